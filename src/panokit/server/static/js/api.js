// REST client for /api/v1 with the token kept in localStorage.

const PREFIX = "/api/v1";
const TOKEN_KEY = "panokit.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const auth = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value); else localStorage.removeItem(TOKEN_KEY);
  },
};

async function request(method, path, { json, form, raw = false, query } = {}) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  let url = PREFIX + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const response = await fetch(url, { method, headers, body });
  if (!response.ok) {
    let error = { code: `http_${response.status}`, message: response.statusText, details: {} };
    try { error = (await response.json()).error || error; } catch { /* not JSON */ }
    throw new ApiError(response.status, error.code, error.message, error.details);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  logout: () => request("POST", "/auth/logout"),
  login: (username, password) => request("POST", "/auth/login", { json: { username, password, token_name: "web" } }),
  me: () => request("GET", "/users/me"),
  datasets: () => request("GET", "/datasets", { query: { limit: 1000 } }),
  dataset: (id) => request("GET", `/datasets/${id}`),
  samples: (datasetId, query) => request("GET", `/datasets/${datasetId}/samples`, { query }),
  sample: (id) => request("GET", `/samples/${id}`),
  media: (id) => request("GET", `/samples/${id}/media`, { raw: true }),
  thumbnail: (id, size = 256) => request("GET", `/ui/samples/${id}/thumbnail`, { raw: true, query: { size } }),
  superpixels: (id) => request("GET", `/ui/samples/${id}/superpixels`, { raw: true }),
  label: (id, revision) => request("GET", `/samples/${id}/label`, { query: { revision } }),
  labelPNG: (id, revision) => request("GET", `/samples/${id}/label/png`, { raw: true, query: { revision } }),
  saveLabel(id, pngBlob, segments, baseRevision) {
    const form = new FormData();
    form.append("png", pngBlob, "label.png");
    form.append("segments", new Blob([JSON.stringify(segments)], { type: "application/json" }), "segments.json");
    form.append("base_revision", String(baseRevision));
    return request("PUT", `/samples/${id}/label`, { form });
  },
  prelabels: (id) => request("GET", `/samples/${id}/prelabels`),
  acceptPrelabel: (prelabelId, baseRevision) => request("POST", `/prelabels/${prelabelId}/accept`, { json: { base_revision: baseRevision } }),
  nextToLabel: (datasetId) => request("POST", `/datasets/${datasetId}/queue/next`),
  nextToReview: (datasetId) => request("POST", `/datasets/${datasetId}/review/next`),
  submit: (id, revision) => request("POST", `/samples/${id}/submit`, { json: { revision } }),
  review: (id, accept, comment, revision) => request("POST", `/samples/${id}/review`, { json: { accept, comment, revision } }),
  comments: (id) => request("GET", `/samples/${id}/comments`),
  addComment: (id, text) => request("POST", `/samples/${id}/comments`, { json: { text } }),
};
