// Money as the API sends it (integer minor units plus a decimal string) and as a buyer types it.

/** The largest price the form takes, in cents: keeps the amount an exact integer. */
export const MAX_PRICE_CENTS = 99_999_999;

export interface Money {
  amount: number;
  currency: string;
  decimal: string;
}

/** "12.5" → 1250 cents; null for anything that is not a positive amount of at most two decimals. */
export function parseDollars(text: string): number | null {
  const match = /^(\d{1,6})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!match) return null;
  const cents = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  return cents > 0 && cents <= MAX_PRICE_CENTS ? cents : null;
}

/** Cents as "12.50". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const absolute = Math.abs(cents);
  return `${sign}${Math.floor(absolute / 100)}.${String(absolute % 100).padStart(2, "0")}`;
}

/** The amount in one currency of a balance list ("0.00" when the balance has none). */
export function inCurrency(amounts: readonly Money[], currency: string): string {
  return amounts.find((money) => money.currency === currency)?.decimal ?? "0.00";
}
