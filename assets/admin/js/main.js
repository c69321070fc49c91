// The admin console's entry point (a module, so it runs once the markup is parsed): wires every
// view to the page. Each view lives in views/; api.js holds the tokens and talks to the server.
import { whenSessionExpires } from './api.js';
import { wireTabs } from './nav.js';
import { wireNotices } from './notice.js';
import { wireConversation } from './views/conversation.js';
import { wireFeedback } from './views/feedback.js';
import { signOut, wireLogin } from './views/login.js';
import { wireSessions } from './views/sessions.js';
import { wireStats } from './views/stats.js';
import { wireUsers } from './views/users.js';

whenSessionExpires(signOut);
wireNotices();
wireLogin();
wireTabs();
wireStats();
wireUsers();
wireSessions();
wireFeedback();
wireConversation();
