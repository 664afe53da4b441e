import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOSTING_SRC, renderPage } from './build-hosting.js';

const pagesDir = join(HOSTING_SRC, 'pages');
const names = (ext: string) =>
  readdirSync(pagesDir)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.test${ext}`))
    .map((f) => f.slice(0, -ext.length))
    .sort();

describe('admin page layout', () => {
  it('wraps the content in the shared head, header and <main>, with the page title and script', () => {
    const html = renderPage(
      'training',
      '<!-- title: Entraînement — Wildlens -->\n<h1>Titre</h1>\n\n<p>x</p>\n',
    );
    expect(html).toMatch(/^<!doctype html>\n<html lang="fr">/);
    expect(html).toContain('<title>Entraînement — Wildlens</title>');
    expect(html).toContain('<script type="module" src="/assets/training.js"></script>');
    expect(html).toContain(
      '<main id="main" tabindex="-1">\n      <h1>Titre</h1>\n\n      <p>x</p>\n    </main>\n  </body>\n</html>\n',
    );
  });

  it('refuses a content file without its title line', () => {
    expect(() => renderPage('upload', '<h1>Sans titre</h1>\n')).toThrow(/title/);
  });

  it('every page has both its content (.html, with a title) and its script (.ts)', () => {
    expect(names('.html')).toEqual(names('.ts'));
    for (const name of names('.html')) {
      const html = renderPage(name, readFileSync(join(pagesDir, `${name}.html`), 'utf8'));
      expect(html).toMatch(/<title>[^<]*Wildlens[^<]*<\/title>/);
      expect(html.match(/<h1>/g)).toHaveLength(1);
    }
  });
});
