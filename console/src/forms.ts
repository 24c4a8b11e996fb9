// Field errors beside their fields. A form provides one context; each FormField registers the path
// it edits (`tiers[2].threshold`, `email`) and shows the API's refusal when the refused `field` is
// its path or lies inside it (the most specific registered field wins). A refusal no field shows is
// left to the form's banner. Inputs that hold text which is not yet a value (an amount being typed)
// mark themselves unreadable, and the form does not send until they are fixed.
import { computed, inject, provide, reactive, ref, watch, type ComputedRef, type InjectionKey, type Ref } from 'vue';
import { ApiError } from './api/client.js';

export interface FieldEntry { label: string; money: boolean; focus(): void }

export interface FieldErrors {
  /** The refusal being shown: the field's path and its message, already in words. */
  error: Ref<{ field: string; text: string } | null>;
  fields: Map<string, FieldEntry>;
  unreadable: Set<string>;
  /** The registered path that shows the error, or null when none does. */
  shownAt: ComputedRef<string | null>;
  set(field: string, text: string): void;
  clear(): void;
}

const KEY: InjectionKey<FieldErrors> = Symbol('field-errors');

export function within(field: string, path: string): boolean {
  return field === path || field.startsWith(`${path}.`) || field.startsWith(`${path}[`);
}

export function provideFieldErrors(): FieldErrors {
  const error = ref<{ field: string; text: string } | null>(null);
  const fields = reactive(new Map<string, FieldEntry>()) as Map<string, FieldEntry>;
  const unreadable = reactive(new Set<string>()) as Set<string>;
  const shownAt = computed(() => {
    const e = error.value;
    if (e === null) return null;
    let best: string | null = null;
    for (const path of fields.keys()) if (within(e.field, path) && (best === null || path.length > best.length)) best = path;
    return best;
  });
  const ctx: FieldErrors = {
    error, fields, unreadable, shownAt,
    set(field, text) { error.value = { field, text }; },
    clear() { error.value = null; },
  };
  provide(KEY, ctx);
  return ctx;
}

export function useFieldErrors(): FieldErrors | null {
  return inject(KEY, null);
}

/** The field a refusal names, when it names one the form can show. */
export function refusedField(err: unknown): string | null {
  return err instanceof ApiError && err.field !== undefined && err.field !== '(root)' ? err.field : null;
}

let fieldIds = 0;
export function nextFieldId(): string {
  fieldIds += 1;
  return `f${fieldIds}`;
}

/**
 * The items of a list of cards (`products`, `coupons`, `campaigns`) to keep open: the manager's
 * choice, plus the item a refusal names, so that its field can be shown.
 */
export function useOpenOnError(list: string): Ref<number[]> {
  const ctx = useFieldErrors();
  const open = ref<number[]>([]);
  const pattern = new RegExp(`^${list}\\[(\\d+)\\]`);
  watch(() => ctx?.error.value?.field, (field) => {
    const m = pattern.exec(field ?? '');
    if (m === null) return;
    const i = Number(m[1]);
    if (!open.value.includes(i)) open.value = [...open.value, i];
  });
  return open;
}

/** A list of ids where null means "all": an empty choice is sent as null. */
export function nullIfEmpty<T>(values: T[]): T[] | null {
  return values.length === 0 ? null : values;
}
