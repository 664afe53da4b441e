/**
 * Tables that become cards on a phone (`.stack-cards` in styles.css): each body cell carries its
 * column's header as `data-label`, shown before the value once the header row is hidden.
 */
export function labelCells(table: HTMLTableElement): void {
  const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent?.trim() ?? '');
  for (const row of table.tBodies[0]?.rows ?? []) {
    [...row.cells].forEach((cell, i) => {
      const label = headers[i];
      if (cell.tagName === 'TD' && label && !cell.dataset.label && cell.colSpan === 1)
        cell.dataset.label = label;
    });
  }
}
