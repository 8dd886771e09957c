// HTTP calls to the same-origin APIs (loader and sign-on). Every error answer has one shape,
// {error: {code, message, details: [{location, message}]}}; it is thrown as an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page, say): fall through to a generic message
  }
  const info = body && body.error;
  if (info && typeof info.message === "string") {
    return new ApiError(response.status, info.code || "error", info.message, info.details || []);
  }
  return new ApiError(response.status, "http_" + response.status, genericMessage(response.status));
}

function genericMessage(status) {
  if (status === 404) return "Not found.";
  if (status === 429) return "Too many requests; wait a moment and try again.";
  if (status >= 500) return "The service is having trouble; try again shortly.";
  return `The request failed (HTTP ${status}).`;
}

/** Fetch JSON; throws ApiError on an error answer or a network failure. */
export async function request(method, path, { json, form, token } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "Could not reach the server; check the connection.");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

/** Download a file that needs the Authorization header: fetch it, then save the Blob. */
export async function download(path, token, fallbackName) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError(0, "network", "Could not reach the server; check the connection.");
  }
  if (!response.ok) throw await errorFrom(response);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
