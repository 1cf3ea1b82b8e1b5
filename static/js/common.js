// An index of the shared front-end modules, for code that still imports
// them from one place (the browser tests import fillBubble from here). The
// pages import the modules they need directly, so the visitor window loads
// none of the signed-in pages' code: api.js (JSON API client), style.js
// (chatbot style), socket.js (reconnecting websocket), messages.js (message
// rendering and list), upload.js (file uploads), conversation.js (one open
// conversation) and signout.js (the topbar's sign-out buttons).
export { api, adminApi } from './api.js';
export { colorRE, applyChatbotStyle } from './style.js';
export { ReconnectingSocket } from './socket.js';
export { uuid, isMessage, formatTime, fillBubble, MessageList } from './messages.js';
export { uploadFile, sendFileWithProgress } from './upload.js';
export { bindComposer, autoGrow, Conversation } from './conversation.js';
export { bindSignout } from './signout.js';
