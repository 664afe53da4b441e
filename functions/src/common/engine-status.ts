/** What the identification engine has loaded in this instance; filled in once it exists. */
let status: { loadedVersion: string | null; backend: string | null } = {
  loadedVersion: null,
  backend: null,
};

export function engineStatus(): { loadedVersion: string | null; backend: string | null } {
  return status;
}

export function setEngineStatus(next: {
  loadedVersion: string | null;
  backend: string | null;
}): void {
  status = next;
}
