// The paths at which two program documents differ, for the audit trail of program changes: object
// keys joined with dots, array elements as [i]; an array whose length changed is one path (its own).
// Pure: it compares JSON values only.

/** The changed paths of `before` → `after` in document order, at most `max`; `more` counts those left out. */
export function changedPaths(before: unknown, after: unknown, max: number): { paths: string[]; more: number } {
  const paths: string[] = [];
  let more = 0;
  const add = (path: string): void => {
    if (paths.length < max) paths.push(path === '' ? '(root)' : path);
    else more += 1;
  };
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (a === b) return;
    const aObject = a !== null && typeof a === 'object';
    const bObject = b !== null && typeof b === 'object';
    if (!aObject || !bObject || Array.isArray(a) !== Array.isArray(b)) { add(path); return; }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) { add(path); return; }
      for (let i = 0; i < a.length; i++) walk(a[i], b[i], `${path}[${i}]`);
      return;
    }
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...Object.keys(ao), ...Object.keys(bo).filter((k) => !Object.hasOwn(ao, k))];
    for (const k of keys) walk(ao[k], bo[k], path === '' ? k : `${path}.${k}`);
  };
  walk(before, after, '');
  return { paths, more };
}
