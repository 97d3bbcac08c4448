// Tiny fetch helpers shared by the clients. Tokens live in localStorage per client ("key").
export const API = { cases: "/api/cases", public: "/api/public", ledger: "/api/ledger", gateway: "/api/gateway" };

export function makeClient(key) {
  const client = {
    get token() { return localStorage.getItem(key) || ""; },
    set token(t) { t ? localStorage.setItem(key, t) : localStorage.removeItem(key); },
    async req(method, url, body, isForm) {
      const headers = {};
      if (client.token) headers.Authorization = "Bearer " + client.token;
      if (body && !isForm) headers["Content-Type"] = "application/json";
      const resp = await fetch(url, { method, headers, body: body ? (isForm ? body : JSON.stringify(body)) : undefined });
      const text = await resp.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch { data = text; }
      if (!resp.ok) {
        const err = new Error((data && data.detail) ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : resp.statusText);
        err.status = resp.status;
        throw err;
      }
      return data;
    },
    get(url) { return client.req("GET", url); },
    post(url, body) { return client.req("POST", url, body); },
    form(url, formData) { return client.req("POST", url, formData, true); },
    del(url) { return client.req("DELETE", url); },
  };
  return client;
}

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

export function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

// The gateway builds play URLs from the base it was reached at; mounted under API.gateway (the
// embedded platform) it can leave that prefix out. Put it back for URLs on this origin.
export function gatewayUrl(u) {
  const url = new URL(u, location.href);
  if (url.origin === location.origin && url.pathname.startsWith("/v1/")) url.pathname = API.gateway + url.pathname;
  return url.href;
}
