// The topbar's sign-out buttons, wired on import by every page that shows
// the topbar.
import { api } from './api.js';

/** Wires every sign-out button on the page. */
export function bindSignout() {
  for (const b of document.querySelectorAll('.js-signout')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      await api('POST', '/accounts/api/logout');
      location.href = '/';
    });
  }
}

bindSignout();
