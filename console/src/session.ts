// Who is signed in and the program they work on: the key (kept in this tab's sessionStorage only,
// gone when the tab closes), its role from GET /v1/whoami, the API client, and the formatter for
// the program's currency and time zone in the chosen language.
import { computed, markRaw, reactive, shallowRef } from 'vue';
import { ApiClient } from './api/client.js';
import type { Role, Tier, VersionedProgram } from './api/types.js';
import { capabilitiesOf } from './lib/capabilities.js';
import { Formatter } from './lib/format.js';
import { i18n } from './i18n/index.js';

const KEY_STORAGE = 'loyalty.key';

/** The API client of the signed-in key (a plain object: Vue does not make it reactive). */
const client = shallowRef<ApiClient | null>(null);

export const session = reactive({
  signedIn: computed(() => client.value !== null),
  role: null as Role | null,
  keyId: null as string | null,
  program: null as VersionedProgram | null,
  /** Set when the server refused the key after sign-in (revoked): the sign-in screen says so. */
  expired: false,
});

export const can = computed(() => capabilitiesOf(session.role));

export const fmt = computed(() => new Formatter({
  locale: i18n.global.locale.value,
  currency: session.program?.currency ?? 'HKD',
  timeZone: session.program?.timezone ?? 'UTC',
}));

/** The API of the signed-in key; only screens shown after sign-in ask for it. */
export function api(): ApiClient {
  if (client.value === null) throw new Error('not signed in');
  return client.value;
}

export function tierName(id: string | null | undefined): string {
  if (id === null || id === undefined) return '—';
  return session.program?.tiers.find((t: Tier) => t.id === id)?.name ?? id;
}

/** A count card's service as the program names it (`includes.card.serviceName`), or its id. */
export function serviceName(serviceId: string): string {
  for (const p of session.program?.products ?? []) {
    const card = p.includes.card;
    if (card?.serviceId === serviceId && card.serviceName !== undefined) return card.serviceName;
  }
  return serviceId;
}

export async function signIn(key: string): Promise<void> {
  const candidate = markRaw(new ApiClient(key));
  const who = await candidate.whoami();
  const program = await candidate.program();
  candidate.onUnauthorized = () => signOut(true);
  client.value = candidate;
  session.role = who.role;
  session.keyId = who.keyId;
  session.program = program;
  session.expired = false;
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function signOut(expired = false): void {
  sessionStorage.removeItem(KEY_STORAGE);
  client.value = null;
  session.role = null;
  session.keyId = null;
  session.program = null;
  session.expired = expired;
}

/** On a page load: the key this tab signed in with, if any. */
export async function resume(): Promise<void> {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key === null) return;
  try {
    await signIn(key);
  } catch {
    sessionStorage.removeItem(KEY_STORAGE);
  }
}

export async function reloadProgram(): Promise<void> {
  session.program = await api().program();
}
