// The conversation of a chat window (the visitor's and the inbox's): for
// now its composer helpers.

/**
 * Wires a composer: the form's submit and Enter in the textarea send,
 * Shift+Enter (or an IME composition) makes a new line.
 * @param {HTMLFormElement} form
 * @param {HTMLTextAreaElement} text
 * @param {() => void} send
 */
export function bindComposer(form, text, send) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send();
    text.focus();
  });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
}

/**
 * Grows a textarea with its content, up to its CSS max-height.
 * @param {HTMLTextAreaElement} ta
 * @returns {() => void} fits the textarea again (after setting its value)
 */
export function autoGrow(ta) {
  const fit = () => {
    ta.style.removeProperty('height');
    if (ta.value.includes('\n') || ta.scrollHeight > ta.clientHeight + 2) ta.style.height = ta.scrollHeight + 2 + 'px';
  };
  ta.addEventListener('input', fit);
  return fit;
}
