import { describe, expect, it } from 'vitest';
import { findSecrets } from './detect.js';

// Built by concatenation so the repository never contains a matching literal.
const pem = [
  '-----BEGIN',
  'PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END',
  'PRIVATE KEY-----',
].join(' ');

describe('findSecrets', () => {
  it('flags a PEM private key', () => {
    expect(findSecrets('k.pem', pem)).toEqual([{ file: 'k.pem', kind: 'private-key' }]);
  });

  it('flags a service-account JSON file', () => {
    const json = JSON.stringify({ type: 'service_account', project_id: 'x', private_key_id: 'a' });
    expect(findSecrets('sa.json', json).map((f) => f.kind)).toContain('service-account');
  });

  it('flags an OAuth client secret', () => {
    const secret = `{"secret":"${'GOCSPX'}-abcdefghijklmnopqrstuvwx"}`;
    expect(findSecrets('c.json', secret)).toHaveLength(1);
  });

  it('accepts ordinary code and public Firebase config', () => {
    const config = '{ "projectId": "demo-wildlens", "apiKey": "fake-api-key", "type": "web" }';
    expect(findSecrets('config.json', config)).toEqual([]);
  });
});
