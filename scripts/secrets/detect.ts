/**
 * Finds credentials that must never be committed (the original project had service-account
 * keys in git). Patterns are assembled at run time so this file does not match itself.
 */
const BEGIN = '-----BEGIN';
const PRIVATE_KEY = new RegExp(`${BEGIN} (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`);
const SERVICE_ACCOUNT_TYPE = /"type"\s*:\s*"service_account"/;
const SERVICE_ACCOUNT_KEY = /"private_key(?:_id)?"\s*:/;
const GOOGLE_OAUTH_SECRET = /GOCSPX-[A-Za-z0-9_-]{20,}/;

export interface SecretFinding {
  file: string;
  kind: 'private-key' | 'service-account' | 'oauth-client-secret';
}

export function findSecrets(file: string, content: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  if (PRIVATE_KEY.test(content)) findings.push({ file, kind: 'private-key' });
  if (SERVICE_ACCOUNT_TYPE.test(content) && SERVICE_ACCOUNT_KEY.test(content)) {
    findings.push({ file, kind: 'service-account' });
  }
  if (GOOGLE_OAUTH_SECRET.test(content)) findings.push({ file, kind: 'oauth-client-secret' });
  return findings;
}
