// "Email me this conversation" in the visitor window: shown when the
// server has mail on (data-mail) and the conversation has an email (from
// the server, data-has-email, or just given in the email form). It posts
// to /chatbot/{username}/{consumer}/transcript and says what the server
// answered (queued, or why not: no email, once per 10 minutes).
import { api } from './api.js';

/**
 * @param {HTMLElement} root the .lcw window with the data- attributes
 * @param {() => boolean} emailGiven whether the visitor gave an email here
 * @returns {{update: () => void}}
 */
export function setupTranscript(root, emailGiven) {
  const box = document.getElementById('transcript');
  const button = document.getElementById('transcript-send');
  const status = document.getElementById('transcript-status');
  const mail = root.dataset.mail === 'true';
  const update = () => {
    box.hidden = !(mail && (root.dataset.hasEmail === 'true' || emailGiven()));
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = 'Sending…';
    const path = `/chatbot/${encodeURIComponent(root.dataset.username)}/${encodeURIComponent(root.dataset.consumer)}/transcript`;
    const res = await api('POST', path, {});
    status.textContent = res.ok ? 'Sent — check your inbox in a minute.' : ((res.data && res.data.detail) || 'It could not be sent. Try again later.');
    button.disabled = false;
  });
  update();
  return { update };
}
