// The chatbot's style on a chat window element (.lcw): the visitor window
// and the settings preview.

/** Field → CSS custom property of the chat window (chat.css). */
const styleVars = {
  headerBackgroundColor: '--header-bg',
  headerTextColor: '--header-fg',
  introductionBackgroundColor: '--intro-bg',
  introductionTextColor: '--intro-fg',
  receiverBackground: '--recv-bg',
  receiverTextColor: '--recv-fg',
  senderBackground: '--send-bg',
  senderTextColor: '--send-fg',
  background_color: '--bg',
  inputBarBackground: '--input-bg',
  inputTextColor: '--input-fg',
};

export const colorRE = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;

/**
 * Applies a Chatbot (colours, name, introduction, picture) to a chat
 * window element (.lcw). Colours go through the CSSOM, which a strict CSP
 * allows.
 * @param {HTMLElement} root
 * @param {object} c the Chatbot
 */
export function applyChatbotStyle(root, c) {
  for (const [field, prop] of Object.entries(styleVars)) {
    if (typeof c[field] === 'string' && colorRE.test(c[field])) root.style.setProperty(prop, c[field]);
  }
  const name = root.querySelector('.lcw-name');
  if (name && typeof c.chatbotName === 'string') name.textContent = c.chatbotName;
  // The preview's sample typing line, worded like the real window's.
  const typing = root.querySelector('.js-demo-typing');
  if (typing && typeof c.chatbotName === 'string') typing.textContent = `${c.chatbotName || 'They'} is typing…`;
  const intro = root.querySelector('.lcw-intro');
  if (intro && typeof c.introductionText === 'string') intro.textContent = c.introductionText;
  const img = root.querySelector('img.lcw-avatar');
  const letter = root.querySelector('div.lcw-avatar');
  // The first character, not UTF-16 unit (an emoji is two), like the
  // server's initial.
  if (letter) letter.textContent = [...(c.chatbotName || '?').trim()][0] || '?';
  if (img) {
    if (c.bot_picture) {
      if (img.getAttribute('src') !== c.bot_picture) img.src = c.bot_picture;
      img.hidden = false;
      if (letter) letter.hidden = true;
    } else {
      img.hidden = true;
      img.removeAttribute('src');
      if (letter) letter.hidden = false;
    }
  }
}
