// Chat file uploads with a progress bar in the message list.
import { uuid } from './messages.js';

/**
 * Uploads a chat file with progress.
 * @param {File} file
 * @param {string} room "<username> <consumer>"
 * @param {(fraction: number) => void} onProgress
 * @param {boolean} [asVisitor] post as the visitor even when signed in
 * @returns {Promise<object>} the Message
 */
export function uploadFile(file, room, onProgress, asVisitor) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/chatbot/message/file/upload' + (asVisitor ? '?as=visitor' : ''));
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.response) resolve(xhr.response);
      else reject(new Error((xhr.response && xhr.response.detail) || `Upload failed (${xhr.status}).`));
    });
    xhr.addEventListener('error', () => reject(new Error('Upload failed: no connection.')));
    const fd = new FormData();
    fd.append('room', room);
    fd.append('file', file);
    xhr.send(fd);
  });
}

/**
 * Shows an upload in the list with a progress bar and sends it.
 * @param {import('./messages.js').MessageList} list
 * @param {File} file
 * @param {string} room "<username> <consumer>"
 * @param {boolean} [asVisitor] post as the visitor even when signed in
 * @returns {Promise<object|null>} the Message, or null on failure
 */
export async function sendFileWithProgress(list, file, room, asVisitor) {
  const li = list.addPending('upload-' + uuid(), file.name);
  const bar = document.createElement('progress');
  bar.className = 'lcw-progress';
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute('aria-label', `Uploading ${file.name}`);
  li.querySelector('.lcw-bubble').append(bar);
  try {
    const m = await uploadFile(file, room, (f) => { bar.value = f; }, asVisitor);
    li.remove();
    list.add(m);
    return m;
  } catch (e) {
    li.classList.remove('is-pending');
    li.querySelector('.lcw-meta').textContent = e.message;
    bar.remove();
    setTimeout(() => li.remove(), 8000);
    return null;
  }
}
