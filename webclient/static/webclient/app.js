// The Messenger web client: routing, screens and the glue between the API, the socket and the
// device's keys. Plain ES modules, no build step (README, "Web client").
import { ApiError, anonymous, api, currentSession, get, onSessionChange, post, setSession } from "./api.js";
import * as C from "./crypto.js";
import { Realtime } from "./realtime.js";
import * as store from "./store.js";
import { busy, displayName, field, h, initials, put, sizeOf, timeOf } from "./ui.js";

const root = document.getElementById("app");
const state = {
  me: null, keys: null, rt: null, connection: "offline",
  users: new Map(), contacts: [], conversations: [], groups: [], presence: new Map(),
  view: null, // the open chat: {kind: "chat"|"group", id, messages: Map, next, loaded, waiting, ...}
  typing: new Map(), banner: "",
};
const BACKUP_PATH = "/keys/backup";
// "Continue without my keys", remembered for this tab only: the next visit asks again.
const SKIP_RESTORE = "messenger.skip-restore";

// A message's time as a string that sorts: the server writes microseconds, but none when they
// are zero (Python's isoformat), and "…:01Z" would sort after "…:01.5Z".
function at(iso) {
  return iso.replace(/:(\d{2})(?:\.(\d+))?(Z|[+-].*)$/, (_, sec, frac = "", zone) => `:${sec}.${frac.padEnd(6, "0")}${zone}`);
}

// --- routing -----------------------------------------------------------------------------------
export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}
addEventListener("popstate", () => route());
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (link && !event.ctrlKey && !event.metaKey) { event.preventDefault(); navigate(link.getAttribute("href")); }
});

async function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  if (path === "/verify-email") return renderVerify(params.get("token") || "");
  if (!currentSession()) {
    stopRealtime();
    if (path === "/register") return renderRegister(params.get("invitation") || "");
    return renderLogin();
  }
  if (!state.me) {
    put(root, h("div", { class: "center muted", role: "status" }, "Loading your account…"));
    try { await boot(); } catch (error) { return renderFatal(error); }
  }
  if (path === "/restore" || (!state.keys && !sessionStorage.getItem(SKIP_RESTORE))) return renderRestore();
  renderShell(path);
}

function renderFatal(error) {
  put(root, h("div", { class: "center card" }, h("h1", {}, "Something went wrong"), h("p", { class: "status error" }, error.message),
    h("button", { onclick: () => location.reload() }, "Try again")));
}

// --- session ---------------------------------------------------------------------------------------
onSessionChange((value) => {
  if (!value) {
    stopRealtime();
    state.me = null; state.keys = null;
    if (!["/login", "/register", "/verify-email"].includes(location.pathname)) navigate("/login", true);
  }
});

async function boot() {
  state.me = await get("/auth/me");
  remember(state.me);
  state.keys = (await store.loadKeys(state.me.id)) || null;
  await Promise.all([loadContacts(), loadConversations(), loadGroups()]);
  startRealtime();
}

function stopRealtime() {
  if (state.rt) state.rt.stop();
  state.rt = null;
}

function startRealtime() {
  stopRealtime();
  state.rt = new Realtime(state.me.id, dispatch, (s) => { state.connection = s; paintConnection(); });
  state.rt.onHello = () => refreshPresence();
  state.rt.start();
}

async function logout() {
  const session = currentSession();
  try { if (session) await post("/auth/logout", { refresh: session.refresh }); } catch { /* gone already */ }
  setSession(null);
}

function remember(user) {
  if (user && user.id) state.users.set(user.id, { ...state.users.get(user.id), ...user });
  return user;
}
async function userById(id) {
  if (!state.users.has(id) || state.users.get(id).public_key === undefined) {
    try { remember(await get(`/users/${id}`)); } catch { state.users.set(id, { id, username: "deleted user", public_key: "" }); }
  }
  return state.users.get(id);
}
async function publicOf(id) {
  return C.parsePublicKeyField((await userById(id)).public_key);
}

// --- data ---------------------------------------------------------------------------------------
async function loadContacts() {
  state.contacts = (await get("/contacts?limit=200")).results;
  state.contacts.forEach((c) => remember(c.user));
}
async function loadConversations() {
  state.conversations = (await get("/messages/conversations?limit=100")).results;
  state.conversations.forEach((c) => remember(c.user));
}
async function loadGroups() {
  state.groups = (await get("/groups?limit=200")).results;
}
async function refreshPresence() {
  const ids = state.contacts.filter((c) => c.status === "accepted").map((c) => c.user.id).slice(0, 100);
  if (!ids.length) return;
  try {
    const { results } = await get(`/presence?user_ids=${ids.join(",")}`);
    results.forEach((p) => state.presence.set(p.user_id, p.online));
    paintLists();
    paintHeader();
  } catch { /* presence is a nicety */ }
}

// --- events ---------------------------------------------------------------------------------------
async function dispatch(type, data) {
  switch (type) {
    case "message.new": {
      const peer = data.sender_id === state.me.id ? data.recipient_id : data.sender_id;
      if (peer === data.sender_id) showTyping({ user_id: peer, state: "stop" }); // their message is in
      if (state.view && state.view.kind === "chat" && state.view.id === peer) {
        await addMessages([data], "append");
        markRead();
      }
      bumpConversation(peer, data);
      break;
    }
    case "group.message.new":
      if (data.sender_id !== state.me.id) showTyping({ user_id: data.sender_id, group_id: data.group_id, state: "stop" });
      if (state.view && state.view.kind === "group" && state.view.id === data.group_id) await addMessages([data], "append");
      break;
    case "message.read": {
      const m = state.view && state.view.messages.get(data.id);
      if (m) { m.raw.is_read = true; m.raw.read_at = data.read_at; paintMessage(m); }
      break;
    }
    case "message.deleted": {
      const m = state.view && state.view.messages.get(data.id);
      if (m) {
        if (data.scope === "me") removeMessage(m);
        else { m.raw.is_deleted = true; m.plain = null; paintMessage(m); }
      }
      break;
    }
    case "typing": showTyping(data); break;
    case "presence":
      state.presence.set(data.user_id, data.online);
      paintLists(); paintHeader();
      break;
    case "contact.request": case "contact.updated":
      await loadContacts(); paintLists(); refreshPresence();
      if (location.pathname === "/contacts") renderShell("/contacts");
      break;
    case "group.updated": case "group.member.added": case "group.member.removed": case "group.deleted":
      await loadGroups(); paintLists();
      if (state.view && state.view.kind === "group" && state.view.id === (data.group_id || data.id || (data.group && data.group.id))) {
        state.view.members = null;
        if (type === "group.deleted" || !state.groups.some((g) => g.id === state.view.id)) navigate("/", true);
      }
      break;
    case "keys.low": break; // 50 one-time prekeys last a while; uploading more is future work
    default: break;
  }
}

function bumpConversation(peerId, message) {
  const existing = state.conversations.find((c) => c.user.id === peerId);
  const unread = message.sender_id !== state.me.id && !(state.view && state.view.id === peerId);
  if (existing) {
    // /sync replays what the list already counts (the since token only moves on a sync).
    if (existing.last_message && at(message.created_at) <= at(existing.last_message.created_at)) return;
    existing.last_message = message;
    if (unread) existing.unread_count += 1;
    state.conversations = [existing, ...state.conversations.filter((c) => c !== existing)];
  } else {
    state.conversations.unshift({ user: state.users.get(peerId) || { id: peerId, username: "…" }, last_message: message, unread_count: unread ? 1 : 0 });
    userById(peerId).then((u) => { state.conversations[0].user = u; paintLists(); });
  }
  paintLists();
}

// --- screens: logged out ----------------------------------------------------------------------------
function authPage(title, ...content) {
  put(root, h("main", { class: "auth" },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "✉"), "Messenger"),
    h("section", { class: "card" }, h("h1", {}, title), ...content)));
}

function renderLogin() {
  const login = h("input", { name: "login", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("p", { class: "status", role: "alert" });
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h("form", {}, field("Email or username", login), field("Password", password), submit, status);
  form.addEventListener("submit", busy(submit, status, async () => {
    const answer = await anonymous("POST", "/auth/login", { login: login.value.trim(), password: password.value });
    state.me = null;
    setSession({ access: answer.access, refresh: answer.refresh, user_id: answer.user.id });
    navigate("/", true);
  }));
  authPage("Log in", form, h("p", {}, "New here? ", h("a", { href: "/register", "data-nav": true }, "Create an account")));
  login.focus();
}

async function renderRegister(invitation) {
  const email = h("input", { name: "email", type: "email", autocomplete: "email", required: true });
  const username = h("input", { name: "username", autocomplete: "username", required: true, pattern: "[A-Za-z0-9_.]{3,32}" });
  const fullName = h("input", { name: "full_name", autocomplete: "name" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const passphrase = h("input", { name: "passphrase", type: "password", autocomplete: "off", required: true, minlength: 10 });
  const status = h("p", { class: "status", role: "alert" });
  const submit = h("button", { type: "submit" }, "Create account");
  const intro = h("p", { class: "muted" });
  if (invitation) {
    try {
      const invite = await anonymous("GET", `/invitations/verify/${encodeURIComponent(invitation)}`);
      intro.textContent = `${displayName(invite.inviter)} invited you to Messenger. Create your account to chat with them.`;
      email.value = invite.invitee_email || "";
    } catch (error) {
      intro.textContent = `This invitation cannot be used: ${error.message}`;
      intro.className = "status error";
      invitation = "";
    }
  }
  const form = h("form", {}, field("Email", email), field("Username", username), field("Full name (optional)", fullName),
    field("Password", password),
    field("Key backup passphrase", passphrase),
    h("p", { class: "hint" }, "Your messages are encrypted on this device. The passphrase protects a backup of your keys so another device can read your history; it never leaves this browser and cannot be reset."),
    submit, status);
  form.addEventListener("submit", busy(submit, status, async () => {
    status.textContent = "Creating your keys…";
    const material = await C.generateIdentity();
    const answer = await anonymous("POST", "/auth/register", {
      email: email.value.trim(), username: username.value.trim(), password: password.value,
      full_name: fullName.value.trim(), public_key: C.publicKeyField(material),
      ...(invitation ? { invitation_token: invitation } : {}),
    });
    setSession({ access: answer.access, refresh: answer.refresh, user_id: answer.user.id });
    status.textContent = "Publishing your public keys and saving the key backup…";
    await api("PUT", "/keys", C.keysUpload(material));
    await api("PUT", BACKUP_PATH, await C.sealBackup(material, passphrase.value, answer.user.id));
    await store.saveKeys(answer.user.id, await C.importIdentity(material));
    state.me = null;
    navigate("/", true);
  }));
  authPage("Create your account", intro, form, h("p", {}, "Have an account? ", h("a", { href: "/login", "data-nav": true }, "Log in")));
}

function renderVerify(token) {
  const status = h("p", { class: "status", role: "status" });
  if (!token) {
    authPage("Confirm your email", h("p", { class: "status error" }, "This link has no token: open the link from the email again."));
    return;
  }
  // Opening the link verifies nothing (mail scanners open links): the button does.
  const button = h("button", {}, "Confirm my email");
  button.addEventListener("click", busy(button, status, async () => {
    const me = await anonymous("POST", "/auth/verify-email", { token });
    button.hidden = true;
    status.textContent = `Thank you, ${me.username}: your email address is confirmed.`;
    if (state.me) state.me.is_verified = true;
  }));
  authPage("Confirm your email", h("p", {}, "Confirm the address of your Messenger account."), button, status,
    h("p", {}, h("a", { href: "/", "data-nav": true }, "Open Messenger")));
}

function renderRestore() {
  const passphrase = h("input", { name: "passphrase", type: "password", autocomplete: "off", required: true });
  const status = h("p", { class: "status", role: "alert" });
  const submit = h("button", { type: "submit" }, "Restore my keys");
  const form = h("form", {}, field("Key backup passphrase", passphrase), submit, status);
  form.addEventListener("submit", busy(submit, status, async () => {
    const backup = await get(BACKUP_PATH);
    const material = await C.openBackup(backup.blob, passphrase.value, state.me.id);
    await store.saveKeys(state.me.id, await C.importIdentity(material));
    state.keys = await store.loadKeys(state.me.id);
    navigate("/", true);
  }));
  const skip = h("button", { class: "secondary", onclick: () => { sessionStorage.setItem(SKIP_RESTORE, "1"); navigate("/", true); } }, "Continue without my keys");
  // No backup, or a forgotten passphrase: new keys (and a new backup) make the account usable
  // again; what was encrypted to the old ones stays unreadable, everywhere.
  const fresh = h("input", { name: "new_passphrase", type: "password", autocomplete: "off", minlength: 10 });
  const freshStatus = h("p", { class: "status", role: "alert" });
  const freshButton = h("button", { type: "submit", class: "danger" }, "Start over with new keys");
  const freshForm = h("form", {}, field("New key backup passphrase", fresh), freshButton, freshStatus);
  freshForm.addEventListener("submit", busy(freshButton, freshStatus, async () => {
    if (fresh.value.length < 10) throw new Error("Choose a passphrase of at least 10 characters.");
    if (!confirm("New keys make every earlier message unreadable, on all your devices. Continue?")) return;
    const material = await C.generateIdentity();
    await api("PATCH", `/users/${state.me.id}`, { public_key: C.publicKeyField(material) });
    await api("PUT", "/keys", C.keysUpload(material));
    await api("PUT", BACKUP_PATH, await C.sealBackup(material, fresh.value, state.me.id));
    await store.saveKeys(state.me.id, await C.importIdentity(material));
    state.keys = await store.loadKeys(state.me.id);
    navigate("/", true);
  }));
  authPage("Restore your keys",
    h("p", {}, "This device does not have your encryption keys. Enter your key backup passphrase to restore them."),
    h("p", { class: "warning" }, "Without the backup, old messages cannot be read on this device."),
    form, skip,
    h("details", { class: "start-over" }, h("summary", {}, "No backup, or forgot the passphrase?"),
      h("p", { class: "muted" }, "You can start over with new keys. Messages sent to your old keys cannot be read any more, on any device."),
      freshForm));
  passphrase.focus();
}

// --- the app shell ------------------------------------------------------------------------------------
let shell = null;
function renderShell(path) {
  const [, section, id] = path.split("/");
  const listPane = h("aside", { class: "sidebar", "aria-label": "Conversations" });
  const mainPane = h("section", { class: "main", "aria-live": "polite" });
  const open = (section === "chat" || section === "group" || section === "contacts" || section === "settings");
  shell = { listPane, mainPane, tab: shell ? shell.tab : "chats" };
  if (section === "contacts") shell.tab = "contacts";
  put(root, h("div", { class: `layout ${open ? "has-main" : ""}` }, listPane, mainPane));
  paintSidebar();
  if (section === "chat" && id) openChat("chat", id);
  else if (section === "group" && id) openChat("group", id);
  else if (section === "contacts") renderContacts();
  else if (section === "settings") renderSettings();
  else { state.view = null; put(mainPane, h("div", { class: "empty" }, h("p", {}, "Pick a conversation, or find people under Contacts."))); }
}

function paintSidebar() {
  if (!shell) return;
  const me = state.me;
  const tabs = ["chats", "groups", "contacts"].map((t) => h("button", {
    class: `tab ${shell.tab === t ? "active" : ""}`, role: "tab", "aria-selected": String(shell.tab === t),
    onclick: () => { shell.tab = t; if (t === "contacts") navigate("/contacts"); else paintSidebar(); },
  }, t[0].toUpperCase() + t.slice(1)));
  put(shell.listPane, 
    h("header", { class: "me" },
      h("span", { class: "avatar" }, initials(me)),
      h("div", { class: "grow" }, h("strong", {}, displayName(me)), h("div", { class: "conn", id: "conn" })),
      h("a", { href: "/settings", "data-nav": true, class: "icon", title: "Settings", "aria-label": "Settings" }, "⚙")),
    !state.keys ? h("p", { class: "warning small" }, "Old messages cannot be read on this device: its keys are missing. ", h("a", { href: "/restore", "data-nav": true }, "Restore the key backup")) : null,
    !me.is_verified ? h("p", { class: "notice small" }, "Confirm your email address: we sent you a link.") : null,
    h("nav", { class: "tabs", role: "tablist" }, tabs),
    h("ul", { class: "list", id: "list" }));
  paintConnection();
  paintLists();
}

function paintConnection() {
  const el = document.getElementById("conn");
  if (!el) return;
  const label = { online: "Connected", connecting: "Connecting…", offline: "Offline: reconnecting" }[state.connection];
  el.textContent = label;
  el.className = `conn ${state.connection}`;
}

function dot(userId) {
  const online = state.presence.get(userId);
  return h("span", { class: `dot ${online ? "on" : ""}`, title: online ? "Online" : "Offline", "aria-label": online ? "online" : "offline", dataset: { presence: userId } });
}

function paintLists() {
  const list = document.getElementById("list");
  if (!list || !shell) return;
  const here = location.pathname;
  if (shell.tab === "chats") {
    const rows = state.conversations.map((c) => h("li", {}, h("a", { href: `/chat/${c.user.id}`, "data-nav": true, class: `row ${here === `/chat/${c.user.id}` ? "current" : ""}` },
      h("span", { class: "avatar" }, initials(c.user), dot(c.user.id)),
      h("span", { class: "grow" }, h("strong", {}, displayName(c.user)), h("small", { class: "muted" }, c.last_message ? timeOf(c.last_message.created_at) : "")),
      c.unread_count ? h("span", { class: "badge", "aria-label": `${c.unread_count} unread` }, c.unread_count) : null)));
    const contacts = state.contacts.filter((c) => c.status === "accepted" && !state.conversations.some((v) => v.user.id === c.user.id));
    put(list, ...rows, ...contacts.map((c) => h("li", {}, h("a", { href: `/chat/${c.user.id}`, "data-nav": true, class: "row" },
      h("span", { class: "avatar" }, initials(c.user), dot(c.user.id)), h("span", { class: "grow" }, h("strong", {}, displayName(c.user)), h("small", { class: "muted" }, "Say hello"))))));
    if (!list.children.length) list.append(h("li", { class: "muted pad" }, "No conversations yet. Add people under Contacts."));
  } else if (shell.tab === "groups") {
    const create = h("li", {}, h("button", { class: "secondary wide", onclick: renderNewGroup }, "+ New group"));
    put(list, create, ...state.groups.map((g) => h("li", {}, h("a", { href: `/group/${g.id}`, "data-nav": true, class: `row ${here === `/group/${g.id}` ? "current" : ""}` },
      h("span", { class: "avatar group" }, initials({ full_name: g.name })),
      h("span", { class: "grow" }, h("strong", {}, g.name), h("small", { class: "muted" }, `${g.member_count} members · ${g.my_role}`))))));
  } else {
    put(list, ...state.contacts.filter((c) => c.status === "accepted").map((c) => h("li", {}, h("a", { href: `/chat/${c.user.id}`, "data-nav": true, class: "row" },
      h("span", { class: "avatar" }, initials(c.user), dot(c.user.id)), h("span", { class: "grow" }, h("strong", {}, displayName(c.user)), h("small", { class: "muted" }, `@${c.user.username}`))))));
  }
}

// --- contacts -------------------------------------------------------------------------------------------
function renderContacts() {
  state.view = null;
  const q = h("input", { type: "search", placeholder: "Search by name, username or email", "aria-label": "Search people", name: "q" });
  const results = h("ul", { class: "list results" });
  const status = h("p", { class: "status", role: "alert" });
  const searchButton = h("button", { type: "submit" }, "Search");
  const form = h("form", { class: "inline" }, q, searchButton);
  form.addEventListener("submit", busy(searchButton, status, async () => {
    const found = (await get(`/users/search?q=${encodeURIComponent(q.value.trim())}`)).results.filter((u) => u.id !== state.me.id);
    put(results, ...found.map((u) => {
      remember(u);
      const known = state.contacts.find((c) => c.user.id === u.id);
      const add = h("button", { class: "small" }, known ? known.status : "Add contact");
      add.disabled = !!known;
      add.addEventListener("click", busy(add, status, async () => {
        await post("/contacts", { user_id: u.id });
        await loadContacts();
        renderContacts();
      }));
      return h("li", { class: "row" }, h("span", { class: "avatar" }, initials(u)), h("span", { class: "grow" }, h("strong", {}, displayName(u)), h("small", { class: "muted" }, `@${u.username}`)), add);
    }));
    if (!found.length) results.append(h("li", { class: "muted pad" }, "Nobody found."));
  }));

  const act = (contact, label, body, method = "PATCH", cls = "small") => {
    const b = h("button", { class: cls }, label);
    b.addEventListener("click", busy(b, status, async () => {
      await api(method, `/contacts/${contact.id}`, method === "PATCH" ? body : undefined);
      await loadContacts();
      renderContacts();
      paintLists();
      refreshPresence(); // a new contact's presence is visible from now on
    }));
    return b;
  };
  const section = (title, items, actions) => items.length ? [h("h3", {}, title), h("ul", { class: "list" }, items.map((c) => h("li", { class: "row", dataset: { contact: c.user.username } },
    h("span", { class: "avatar" }, initials(c.user), c.status === "accepted" ? dot(c.user.id) : null),
    h("span", { class: "grow" }, h("strong", {}, displayName(c.user)), h("small", { class: "muted" }, `@${c.user.username}`)), actions(c))))] : [];
  const incoming = state.contacts.filter((c) => c.status === "pending" && c.direction === "incoming");
  const outgoing = state.contacts.filter((c) => c.status === "pending" && c.direction === "outgoing");
  const accepted = state.contacts.filter((c) => c.status === "accepted");
  const blocked = state.contacts.filter((c) => c.status === "blocked" && c.blocked_by_me);

  const inviteEmail = h("input", { type: "email", name: "invite", placeholder: "friend@example.com", "aria-label": "Email to invite" });
  const inviteButton = h("button", { type: "submit" }, "Invite");
  const inviteStatus = h("p", { class: "status", role: "status" });
  const invite = h("form", { class: "inline" }, inviteEmail, inviteButton);
  invite.addEventListener("submit", busy(inviteButton, inviteStatus, async () => {
    await post("/invitations/send", { email: inviteEmail.value.trim() });
    inviteStatus.textContent = `Invitation sent to ${inviteEmail.value.trim()}.`;
    inviteEmail.value = "";
  }));

  put(shell.mainPane, h("div", { class: "page" },
    h("header", { class: "bar" }, h("a", { href: "/", "data-nav": true, class: "back", "aria-label": "Back" }, "←"), h("h2", {}, "Contacts")),
    h("div", { class: "scroll pad" },
      h("h3", {}, "Find people"), form, status, results,
      ...section("Requests for you", incoming, (c) => [act(c, "Accept", { status: "accepted" }), act(c, "Block", { status: "blocked" }, "PATCH", "small danger")]),
      ...section("Waiting for an answer", outgoing, (c) => [act(c, "Cancel", null, "DELETE", "small secondary")]),
      ...section("Your contacts", accepted, (c) => [h("a", { href: `/chat/${c.user.id}`, "data-nav": true, class: "button small" }, "Message"), act(c, "Block", { status: "blocked" }, "PATCH", "small danger")]),
      ...section("Blocked", blocked, (c) => [act(c, "Unblock", null, "DELETE", "small secondary")]),
      h("h3", {}, "Invite someone by email"), invite, inviteStatus)));
  q.focus();
}

// --- settings -------------------------------------------------------------------------------------------
function renderSettings() {
  state.view = null;
  const password = h("input", { type: "password", name: "delete_password", autocomplete: "current-password" });
  const status = h("p", { class: "status", role: "alert" });
  const del = h("button", { class: "danger" }, "Delete my account");
  del.addEventListener("click", busy(del, status, async () => {
    if (!confirm("Delete your account for good? Your contacts keep the messages you sent them.")) return;
    await api("DELETE", "/auth/me", { password: password.value });
    await store.forgetKeys(state.me.id);
    setSession(null);
  }));
  const me = state.me;
  put(shell.mainPane, h("div", { class: "page" },
    h("header", { class: "bar" }, h("a", { href: "/", "data-nav": true, class: "back", "aria-label": "Back" }, "←"), h("h2", {}, "Settings")),
    h("div", { class: "scroll pad" },
      h("p", {}, h("strong", {}, displayName(me)), ` @${me.username} · ${me.email} · `, me.is_verified ? "email confirmed" : "email not confirmed yet"),
      h("p", {}, state.keys ? "This device holds your encryption keys." : "This device has no encryption keys: old messages cannot be read here. ", state.keys ? null : h("a", { href: "/restore", "data-nav": true }, "Restore the key backup")),
      h("button", { class: "secondary", onclick: logout }, "Log out"),
      h("h3", {}, "Delete account"),
      h("p", { class: "muted" }, "Your login, contacts and uploads are removed; your messages stay with the people you sent them to."),
      field("Password", password), del, status)));
}

// --- conversations ----------------------------------------------------------------------------------
async function openChat(kind, id) {
  const view = { kind, id, messages: new Map(), next: null, loading: false, loaded: false, waiting: [], members: null };
  state.view = view;
  const title = h("h2", {});
  const sub = h("small", { class: "muted", id: "chat-sub" });
  const list = h("ol", { class: "messages", "aria-label": "Messages" });
  const scroller = h("div", { class: "scroll messages-scroll" }, h("div", { class: "loading-older muted", id: "older" }), list);
  const status = h("p", { class: "status", role: "alert", id: "send-status" });
  const input = h("textarea", { rows: 1, placeholder: state.keys ? "Write a message" : "This device cannot send: its keys are missing", "aria-label": "Message", name: "message", disabled: !state.keys });
  const fileInput = h("input", { type: "file", hidden: true, name: "attachment" });
  const attachButton = h("button", { type: "button", class: "icon", title: "Attach a file", "aria-label": "Attach a file", onclick: () => fileInput.click(), disabled: !state.keys }, "+");
  const pending = h("span", { class: "pending muted" });
  const sendButton = h("button", { type: "submit", disabled: !state.keys }, "Send");
  const composer = h("form", { class: "composer" }, attachButton, fileInput, h("div", { class: "grow" }, pending, input), sendButton);
  const actions = h("div", { class: "bar-actions" });
  Object.assign(view, { title, sub, list, scroller, status, input, fileInput, pending });
  put(shell.mainPane, h("div", { class: "page chat" },
    h("header", { class: "bar" }, h("a", { href: "/", "data-nav": true, class: "back", "aria-label": "Back" }, "←"),
      h("div", { class: "grow" }, title, sub), actions),
    scroller, status, composer));
  fileInput.addEventListener("change", () => {
    pending.textContent = fileInput.files[0] ? `Attached: ${fileInput.files[0].name} (${sizeOf(fileInput.files[0].size)})` : "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
  });
  // Typing frames are rate limited (THROTTLE_TYPING, 60/min): "start" at most every 5 s while
  // typing goes on, "stop" after 4 s without a keystroke. A sent message needs no "stop": the
  // other side clears the indicator when the message arrives (so at most one frame a message).
  let typingSent = 0;
  let typingStop = null;
  const typingTarget = kind === "chat" ? { to_user_id: id } : { group_id: id };
  input.addEventListener("input", () => {
    if (!input.value) return;
    if (Date.now() - typingSent > 5000) { state.rt && state.rt.send("typing", { ...typingTarget, state: "start" }); typingSent = Date.now(); }
    clearTimeout(typingStop);
    typingStop = setTimeout(() => { state.rt && state.rt.send("typing", { ...typingTarget, state: "stop" }); typingSent = 0; }, 4000);
  });
  // Sends go out one after another, in the order typed: Enter while one is on its way queues the
  // next instead of dropping it. A refused message comes back into the box with the reason.
  let sending = Promise.resolve();
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    const file = fileInput.files[0];
    if (!text && !file) return;
    input.value = ""; fileInput.value = ""; pending.textContent = "";
    clearTimeout(typingStop);
    typingSent = 0; // the next keystroke starts a new "typing" (the message cleared the last one)
    sending = sending.then(async () => {
      sendButton.setAttribute("aria-busy", "true");
      status.textContent = ""; status.className = "status";
      try {
        await sendMessage(view, text, file);
      } catch (error) {
        status.textContent = error.message; status.className = "status error";
        if (!input.value) input.value = text;
      } finally {
        sendButton.removeAttribute("aria-busy");
      }
    });
    input.focus();
  });
  scroller.addEventListener("scroll", () => { if (scroller.scrollTop < 80) loadOlder(view); });

  if (kind === "chat") {
    // Fresh: their public key may have changed since this page loaded (new keys, a new session).
    const peer = await get(`/users/${id}`).then(remember, () => userById(id));
    put(title, dot(id), " ", displayName(peer));
    paintHeader();
  } else {
    await loadMembers(view);
    const group = view.group;
    title.textContent = group.name;
    actions.append(h("button", { class: "secondary small", onclick: () => renderMembers(view) }, "Members"));
    sub.textContent = `${group.members.length} members`;
  }
  await loadOlder(view);
  scroller.scrollTop = scroller.scrollHeight;
  if (kind === "chat") markRead();
  if (state.keys) input.focus();
  paintLists();
}

async function loadMembers(view) {
  view.group = await get(`/groups/${view.id}`);
  view.group.members.forEach((m) => remember(m.user));
  view.members = view.group.members.map((m) => ({ id: m.user.id, username: m.user.username, public: C.parsePublicKeyField(m.user.public_key) }));
}

async function loadOlder(view) {
  if (view.loading || view.done || state.view !== view) return;
  view.loading = true;
  const older = document.getElementById("older");
  if (older) older.textContent = "Loading earlier messages…";
  try {
    const path = view.next || (view.kind === "chat" ? `/messages/conversation/${view.id}?limit=30` : `/groups/${view.id}/messages?limit=30`);
    const page = await get(path);
    if (state.view !== view) return; // the user went elsewhere meanwhile
    view.next = page.next;
    view.done = !page.next;
    const before = view.scroller.scrollHeight - view.scroller.scrollTop;
    await addMessages(page.results, "prepend");
    view.scroller.scrollTop = view.scroller.scrollHeight - before;
    if (!view.loaded) {
      view.loaded = true;
      await addMessages(view.waiting.splice(0), "append");
    }
  } catch (error) {
    view.status.textContent = error.message; view.status.className = "status error";
  } finally {
    view.loading = false;
    if (older) older.textContent = view.done ? "" : "";
  }
}

async function decrypt(view, raw) {
  if (raw.is_deleted) return { deleted: true };
  if (!state.keys) return { unreadable: "This message cannot be read on this device: its keys are not here. Restore your key backup to read old messages." };
  try {
    const senderPublic = await publicOf(raw.sender_id);
    if (view.kind === "chat") {
      return await C.decryptDirect(state.keys, raw, state.me.id, senderPublic, C.directAad(raw.sender_id, raw.recipient_id, raw.client_message_id));
    }
    return await C.decryptGroup(state.keys, raw, senderPublic, C.groupAad(raw.group_id, raw.sender_id, raw.client_message_id));
  } catch {
    return { unreadable: "This message cannot be read: it was encrypted to keys this device does not have." };
  }
}

async function addMessages(raws, where) {
  const view = state.view;
  if (where === "append") {
    // The view shows a contiguous stretch of history ending now. Live events and /sync items
    // (which replay what the last sync did not cover, often history already) extend its new end;
    // before the first page is in, they wait for it; older than the stretch, the scroll-back
    // brings them in their turn.
    if (!view.loaded) { view.waiting.push(...raws); return; }
    const oldest = view.list.firstElementChild && view.list.firstElementChild.dataset.at;
    if (!view.done && oldest) raws = raws.filter((r) => at(r.created_at) >= oldest);
  }
  const fresh = raws.filter((r) => !view.messages.has(r.id));
  const decrypted = await Promise.all(fresh.map((r) => decrypt(view, r)));
  if (state.view !== view) return;
  const items = fresh.map((raw, i) => ({ raw, plain: decrypted[i], el: null })).filter((m) => !view.messages.has(m.raw.id));
  items.sort((a, b) => (at(a.raw.created_at) < at(b.raw.created_at) ? -1 : 1));
  const nearBottom = view.scroller.scrollHeight - view.scroller.scrollTop - view.scroller.clientHeight < 120;
  // Each in its place by time, wherever it came from: a page of history, a live event, or /sync
  // replaying what this page had already loaded as history.
  const shown = [...view.list.children];
  for (const m of items) {
    view.messages.set(m.raw.id, m);
    paintMessage(m);
    const later = shown.find((el) => el.dataset.at > at(m.raw.created_at));
    view.list.insertBefore(m.el, later || null);
  }
  if (where === "append" && (nearBottom || items.some((m) => m.raw.sender_id === state.me.id))) {
    view.scroller.scrollTop = view.scroller.scrollHeight;
  }
}

function removeMessage(m) {
  state.view.messages.delete(m.raw.id);
  m.el.remove();
}

function paintMessage(m) {
  const mine = m.raw.sender_id === state.me.id;
  const body = [];
  if (m.plain && m.plain.deleted || m.raw.is_deleted) body.push(h("em", { class: "muted" }, "This message was deleted."));
  else if (m.plain && m.plain.unreadable) body.push(h("em", { class: "unreadable" }, m.plain.unreadable));
  else if (m.plain) {
    if (m.plain.t) body.push(h("p", { class: "text" }, m.plain.t));
    for (const a of m.plain.a || []) body.push(attachmentView(a));
  }
  const sender = state.view && state.view.kind === "group" && !mine ? h("small", { class: "sender" }, displayName(state.users.get(m.raw.sender_id))) : null;
  const receipt = mine && state.view.kind === "chat" ? h("span", { class: "receipt", title: m.raw.is_read ? "Read" : "Sent" }, m.raw.is_read ? "✓✓ Read" : "✓ Sent") : null;
  // The API deletes 1:1 messages only (for me, or for everyone by the sender).
  const menu = !m.raw.is_deleted && state.view.kind === "chat" ? h("span", { class: "msg-actions" },
    h("button", { class: "link", onclick: () => deleteMessage(m, "me") }, "Delete for me"),
    mine ? h("button", { class: "link", onclick: () => deleteMessage(m, "everyone") }, "Delete for everyone") : null) : null;
  const el = h("li", { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { id: m.raw.id, at: at(m.raw.created_at) }, tabindex: "0" },
    sender, ...body, h("div", { class: "meta" }, h("time", { datetime: m.raw.created_at }, timeOf(m.raw.created_at)), receipt, menu));
  if (m.el) m.el.replaceWith(el);
  m.el = el;
}

async function deleteMessage(m, scope) {
  try {
    await api("DELETE", `/messages/${m.raw.id}?scope=${scope}`);
    if (scope === "me") removeMessage(m);
    else { m.raw.is_deleted = true; paintMessage(m); }
  } catch (error) {
    state.view.status.textContent = error.message; state.view.status.className = "status error";
  }
}

function attachmentView(a) {
  // The thumbnail comes from the sender: only an inline JPEG/PNG data URL is shown (never a URL
  // that would make this browser fetch something; the page's CSP refuses those too).
  const isImage = (a.m || "").startsWith("image/") && /^data:image\/(jpeg|png);base64,/.test(a.th || "");
  const label = `${a.n} (${sizeOf(a.s)})`;
  const open = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const meta = await get(`/media/${a.id}`);
      const response = await fetch(meta.download_url);
      if (!response.ok) throw new Error("The file could not be downloaded.");
      const bytes = await C.decryptFile(await response.arrayBuffer(), a.k, a.h);
      const url = URL.createObjectURL(new Blob([bytes], { type: a.m || "application/octet-stream" }));
      if (isImage) {
        button.replaceWith(h("img", { class: "full", src: url, alt: a.n }));
      } else {
        const link = h("a", { href: url, download: a.n }, "");
        document.body.append(link); link.click(); link.remove();
      }
    } catch (error) {
      alert(error.message);
    } finally {
      button.disabled = false;
    }
  };
  if (isImage) {
    return h("figure", { class: "attachment image" },
      h("button", { class: "thumb", onclick: open, title: `Open ${a.n}`, "aria-label": `Open image ${a.n}` }, h("img", { src: a.th, alt: a.n })),
      h("figcaption", { class: "muted" }, label));
  }
  return h("div", { class: "attachment file" }, h("button", { class: "secondary small", onclick: open }, `Download ${label}`));
}

function markRead() {
  const view = state.view;
  if (!view || view.kind !== "chat" || document.hidden) return;
  const unread = [...view.messages.values()].filter((m) => m.raw.sender_id === view.id && !m.raw.is_read);
  if (!unread.length) return;
  unread.forEach((m) => { m.raw.is_read = true; });
  api("PUT", `/messages/conversation/${view.id}/read`, {}).catch(() => {});
  const conv = state.conversations.find((c) => c.user.id === view.id);
  if (conv) { conv.unread_count = 0; paintLists(); }
}
document.addEventListener("visibilitychange", markRead);

function paintHeader() {
  const view = state.view;
  if (!view || view.kind !== "chat" || !view.sub) return;
  const typing = state.typing.get(view.id);
  view.sub.textContent = typing ? "typing…" : state.presence.get(view.id) ? "online" : "offline";
  const d = view.title.querySelector(".dot");
  if (d) d.replaceWith(dot(view.id));
}

function showTyping(data) {
  const key = data.group_id ? `${data.group_id}` : data.user_id;
  clearTimeout(state.typing.get(key));
  if (data.state === "start") state.typing.set(key, setTimeout(() => { state.typing.delete(key); paintTyping(); }, 6000));
  else state.typing.delete(key);
  paintTyping();
  function paintTyping() {
    const view = state.view;
    if (!view) return;
    if (view.kind === "chat") paintHeader();
    else if (view.id === data.group_id && view.sub) view.sub.textContent = state.typing.has(key) ? `${displayName(state.users.get(data.user_id))} is typing…` : `${view.group.members.length} members`;
  }
}

// --- sending ---------------------------------------------------------------------------------------------
async function sessionWith(peerId) {
  const peerPublic = await publicOf(peerId);
  const saved = await store.loadSession(state.me.id, peerId);
  // A session holds while the peer keeps the identity it was made for (they may start over).
  if (saved && peerPublic && saved.peerIk === C.b64(peerPublic.ik)) return saved;
  const bundle = await get(`/keys/${peerId}`);
  const session = { ...(await C.startSession(state.keys, bundle, peerPublic)), peerIk: C.b64(peerPublic.ik) };
  await store.saveSession(state.me.id, peerId, session);
  return session;
}

async function thumbnailOf(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 240 / Math.max(bitmap.width, bitmap.height));
  const canvas = h("canvas", { width: Math.max(1, Math.round(bitmap.width * scale)), height: Math.max(1, Math.round(bitmap.height * scale)) });
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/jpeg", 0.7);
}

async function uploadAttachment(file) {
  const bytes = await file.arrayBuffer();
  const sealed = await C.encryptFile(bytes);
  const form = new FormData();
  // The name and type travel inside the encrypted message; the server sees neither.
  form.append("file", new Blob([sealed.ciphertext], { type: "application/octet-stream" }), "attachment.bin");
  const media = await api("POST", "/media/upload", form, { form: true });
  if (media.sha256 !== sealed.sha256) throw new Error("The server stored something other than what was uploaded.");
  let th = null;
  if (file.type.startsWith("image/")) { try { th = await thumbnailOf(file); } catch { th = null; } }
  return { id: media.id, n: file.name, m: file.type, s: file.size, k: sealed.key, h: sealed.sha256, th };
}

async function sendMessage(view, text, file) {
  const plain = { t: text };
  const attachmentIds = [];
  if (file) {
    view.status.textContent = "Encrypting and uploading the file…"; view.status.className = "status";
    const a = await uploadAttachment(file);
    plain.a = [a];
    attachmentIds.push(a.id);
  }
  const clientMessageId = crypto.randomUUID();
  let sent;
  if (view.kind === "chat") {
    const session = await sessionWith(view.id);
    const body = await C.encryptDirect(state.keys, session, plain, C.directAad(state.me.id, view.id, clientMessageId));
    sent = await post("/messages/send", { recipient_id: view.id, ...body, client_message_id: clientMessageId, attachment_ids: attachmentIds });
    bumpConversation(view.id, sent);
  } else {
    if (!view.members) await loadMembers(view);
    const body = await C.encryptGroup(state.keys, view.members, plain, C.groupAad(view.id, state.me.id, clientMessageId));
    try {
      sent = await post(`/groups/${view.id}/messages`, { ...body, client_message_id: clientMessageId, attachment_ids: attachmentIds });
    } catch (error) {
      if (error.code !== "invalid_recipients") throw error;
      await loadMembers(view); // membership changed meanwhile: wrap for the members as they are now
      const again = await C.encryptGroup(state.keys, view.members, plain, C.groupAad(view.id, state.me.id, clientMessageId));
      sent = await post(`/groups/${view.id}/messages`, { ...again, client_message_id: clientMessageId, attachment_ids: attachmentIds });
    }
  }
  view.status.textContent = "";
  if (state.view === view) await addMessages([sent], "append");
}

// --- groups ---------------------------------------------------------------------------------------------
function contactPicker() {
  return state.contacts.filter((c) => c.status === "accepted").map((c) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: c.user.id, name: "member" }), ` ${displayName(c.user)} (@${c.user.username})`));
}

function renderNewGroup() {
  state.view = null;
  const name = h("input", { name: "group_name", required: true, maxlength: 100 });
  const status = h("p", { class: "status", role: "alert" });
  const submit = h("button", { type: "submit" }, "Create group");
  const picks = h("fieldset", {}, h("legend", {}, "Members"), contactPicker());
  const form = h("form", {}, field("Group name", name), picks, submit, status);
  form.addEventListener("submit", busy(submit, status, async () => {
    const ids = [...picks.querySelectorAll("input:checked")].map((i) => i.value);
    const group = await post("/groups", { name: name.value.trim(), member_ids: ids });
    await loadGroups();
    navigate(`/group/${group.id}`);
  }));
  root.querySelector(".layout").classList.add("has-main");
  put(shell.mainPane, h("div", { class: "page" },
    h("header", { class: "bar" }, h("a", { href: "/", "data-nav": true, class: "back", "aria-label": "Back" }, "←"), h("h2", {}, "New group")),
    h("div", { class: "scroll pad" }, form)));
  name.focus();
}

async function renderMembers(view) {
  await loadMembers(view);
  const group = view.group;
  const status = h("p", { class: "status", role: "alert" });
  const isOwner = group.my_role === "owner";
  const canManage = isOwner || group.my_role === "admin";
  const act = (label, method, path, body, cls = "small secondary") => {
    const b = h("button", { class: cls }, label);
    b.addEventListener("click", busy(b, status, async () => {
      await api(method, path, body);
      await loadGroups();
      if (method === "DELETE" && path.endsWith(state.me.id)) return navigate("/");
      await renderMembers(view);
    }));
    return b;
  };
  const rows = group.members.map((m) => h("li", { class: "row" },
    h("span", { class: "avatar" }, initials(m.user)),
    h("span", { class: "grow" }, h("strong", {}, displayName(m.user)), h("small", { class: "muted" }, m.role)),
    isOwner && m.role !== "owner" ? act(m.role === "admin" ? "Make member" : "Make admin", "PATCH", `/groups/${group.id}/members/${m.user.id}`, { role: m.role === "admin" ? "member" : "admin" }) : null,
    canManage && m.role !== "owner" && m.user.id !== state.me.id ? act("Remove", "DELETE", `/groups/${group.id}/members/${m.user.id}`, undefined, "small danger") : null));
  const candidates = state.contacts.filter((c) => c.status === "accepted" && !group.members.some((m) => m.user.id === c.user.id));
  const select = h("select", { name: "add_member", "aria-label": "Contact to add" }, candidates.map((c) => h("option", { value: c.user.id }, displayName(c.user))));
  const add = h("button", { class: "small" }, "Add");
  add.addEventListener("click", busy(add, status, async () => {
    await post(`/groups/${group.id}/members`, { user_id: select.value });
    await renderMembers(view);
  }));
  put(shell.mainPane, h("div", { class: "page" },
    h("header", { class: "bar" }, h("a", { href: `/group/${group.id}`, "data-nav": true, class: "back", "aria-label": "Back to the chat" }, "←"), h("h2", {}, `${group.name}: members`)),
    h("div", { class: "scroll pad" }, h("ul", { class: "list" }, rows),
      canManage && candidates.length ? h("div", { class: "inline" }, select, add) : null,
      group.my_role !== "owner" ? act("Leave group", "DELETE", `/groups/${group.id}/members/${state.me.id}`, undefined, "danger") : null,
      status)));
}

route();
