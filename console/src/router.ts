// The console's screens by the address's hash (#/members/alice): a page load or the back button
// lands on the same screen, and the server serves one page for all of them.
import { reactive } from 'vue';

export const route = reactive({ path: [] as string[] });

function read(): void {
  route.path = location.hash.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map((s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  });
}

window.addEventListener('hashchange', read);
read();

export function go(...segments: string[]): void {
  location.hash = `#/${segments.map(encodeURIComponent).join('/')}`;
}

export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}
