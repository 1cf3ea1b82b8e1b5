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
 * A size for people: "5 MiB", "512 KiB" or bytes (as the server says it).
 * @param {number} n
 */
export function byteSize(n) {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${n} bytes`;
}

/**
 * Turns an upload's item into a failure the visitor can dismiss or, when
 * retry is given, try again.
 * @param {HTMLLIElement} li
 * @param {string} why
 * @param {(() => void)|null} retry
 */
function showFailure(li, why, retry) {
  li.classList.remove('is-pending');
  li.classList.add('is-failed');
  const meta = li.querySelector('.lcw-meta');
  meta.textContent = why;
  const bar = li.querySelector('progress');
  if (bar) bar.remove();
  const actions = document.createElement('span');
  actions.className = 'lcw-failed-actions';
  const button = (label, cls, fn) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'lcw-link ' + cls;
    b.textContent = label;
    b.addEventListener('click', () => { li.remove(); fn(); });
    actions.append(b);
  };
  if (retry) button('Retry', 'lcw-retry', retry);
  button('Dismiss', 'lcw-dismiss', () => {});
  meta.append(' ', actions);
}

/**
 * Shows an upload in the list with a progress bar and sends it. A file
 * over maxUpload bytes is refused here, before any upload; a failed
 * upload stays in the list with Retry and Dismiss.
 * @param {import('./messages.js').MessageList} list
 * @param {File} file
 * @param {string} room "<username> <consumer>"
 * @param {number} maxUpload the server's limit in bytes (0: unknown)
 * @param {() => void} retry sends the file again (after Retry)
 * @param {boolean} [asVisitor] post as the visitor even when signed in
 * @returns {Promise<object|null>} the Message, or null on failure
 */
export async function sendFileWithProgress(list, file, room, maxUpload, retry, asVisitor) {
  const id = 'upload-' + uuid();
  const li = list.addPending(id, file.name);
  // A failed upload is no longer pending (nothing resends it), but its
  // item stays until dismissed.
  list.pending.delete(id);
  if (maxUpload > 0 && file.size > maxUpload) {
    showFailure(li, `Too large to send: at most ${byteSize(maxUpload)}.`, null);
    return null;
  }
  list.pending.set(id, { li, content: file.name });
  const bar = document.createElement('progress');
  bar.className = 'lcw-progress';
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute('aria-label', `Uploading ${file.name}`);
  li.querySelector('.lcw-bubble').append(bar);
  try {
    const m = await uploadFile(file, room, (f) => { bar.value = f; }, asVisitor);
    list.pending.delete(id);
    li.remove();
    list.add(m);
    return m;
  } catch (e) {
    list.pending.delete(id);
    showFailure(li, e.message, retry);
    return null;
  }
}
