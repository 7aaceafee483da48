// The marketplace page: a seller signs up and onboards on tollgate's hosted page, a buyer
// pays with a destination charge priced by the platform's policy, and the seller's
// dashboard re-reads the balance and payouts on every event the subscription delivers.
import type { Client } from "graphql-ws";
import { ApiError, request, subscribe, subscriptions, type Connection } from "./api";
import type { CreateChargeInput, SellerViewQuery } from "./gql/graphql";
import { formatCents, inCurrency, parseDollars } from "./money";
import {
  AdvanceClock,
  Checkout,
  CreateOnboardingLink,
  CreateSeller,
  PreviewCheckout,
  SellerEvents,
  SellerView,
} from "./operations";

const CURRENCY = "usd";
const TEST_CARD = "pm_card_visa";
/** Events kept in the on-page log. */
const MAX_LOGGED_EVENTS = 50;
/** The most days one click moves the clock (the server allows more). */
const MAX_ADVANCE_DAYS = 365;
const SECONDS_PER_DAY = 86_400;
/** The page survives the trip to the hosted onboarding page in sessionStorage. */
const STORED = { url: "tollgate.url", key: "tollgate.key", seller: "tollgate.seller" } as const;

function element<Kind extends HTMLElement>(id: string): Kind {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as Kind;
}

const page = {
  error: element<HTMLParagraphElement>("error"),
  serverUrl: element<HTMLInputElement>("server-url"),
  apiKey: element<HTMLInputElement>("api-key"),
  saveConnection: element<HTMLButtonElement>("save-connection"),
  sellerEmail: element<HTMLInputElement>("seller-email"),
  signUp: element<HTMLButtonElement>("sign-up"),
  sellerId: element<HTMLSpanElement>("seller-id"),
  onboard: element<HTMLButtonElement>("onboard"),
  onboardingStatus: element<HTMLParagraphElement>("onboarding-status"),
  price: element<HTMLInputElement>("price"),
  feePreview: element<HTMLElement>("fee-preview"),
  policyName: element<HTMLElement>("policy-name"),
  sellerShare: element<HTMLElement>("seller-share"),
  pay: element<HTMLButtonElement>("pay"),
  receipt: element<HTMLParagraphElement>("receipt"),
  liveStatus: element<HTMLElement>("live-status"),
  chargesEnabled: element<HTMLSpanElement>("charges-enabled"),
  payoutsEnabled: element<HTMLSpanElement>("payouts-enabled"),
  payoutSchedule: element<HTMLSpanElement>("payout-schedule"),
  available: element<HTMLElement>("available"),
  pending: element<HTMLElement>("pending"),
  payouts: element<HTMLTableSectionElement>("payouts"),
  eventLog: element<HTMLOListElement>("event-log"),
  advanceDays: element<HTMLInputElement>("advance-days"),
  advanceClock: element<HTMLButtonElement>("advance-clock"),
  clock: element<HTMLSpanElement>("clock"),
};

function connection(): Connection {
  return { url: page.serverUrl.value.trim().replace(/\/+$/, ""), key: page.apiKey.value.trim() };
}

function seller(): string | null {
  return sessionStorage.getItem(STORED.seller);
}

function showError(error: unknown): void {
  page.error.hidden = false;
  if (error instanceof ApiError) {
    page.error.textContent = `${error.code ?? "ERROR"}${error.param ? ` (${error.param})` : ""}: ${error.message}`;
  } else {
    page.error.textContent = error instanceof Error ? error.message : String(error);
  }
}

/** Runs a button's work with the button disabled and any failure shown. */
function onClick(button: HTMLButtonElement, work: () => Promise<void>): void {
  button.addEventListener("click", () => {
    button.disabled = true;
    page.error.hidden = true;
    work()
      .catch(showError)
      .finally(() => {
        button.disabled = false;
      });
  });
}

// --- The seller's dashboard: read on load, and again on every event. ---

let live: { client: Client; stop: () => void } | null = null;

function renderSeller(account: NonNullable<SellerViewQuery["account"]>): void {
  page.chargesEnabled.textContent = account.chargesEnabled ? "yes" : "no";
  page.payoutsEnabled.textContent = account.payoutsEnabled ? "yes" : "no";
  const schedule = account.payoutSchedule;
  page.payoutSchedule.textContent =
    `${schedule.interval.toLowerCase()}${schedule.weeklyAnchor ? ` on ${schedule.weeklyAnchor.toLowerCase()}` : ""}` +
    `, ${schedule.delayDays}-day delay`;
  page.available.textContent = inCurrency(account.balance.available, CURRENCY);
  page.pending.textContent = inCurrency(account.balance.pending, CURRENCY);
  page.payouts.replaceChildren(
    ...account.payouts.nodes.map((payout) => {
      const row = document.createElement("tr");
      row.dataset.payout = payout.id;
      for (const text of [
        payout.id,
        `${payout.amount.decimal} ${payout.amount.currency.toUpperCase()}`,
        payout.status,
        payout.arrivalDate.slice(0, 10),
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  const canSell = account.chargesEnabled;
  page.pay.disabled = !canSell;
  page.onboard.disabled = canSell;
  page.onboardingStatus.textContent = canSell
    ? "Onboarding complete: the seller can be paid."
    : `Still needed: ${account.requirements.currentlyDue.join(", ") || "nothing"}`;
}

async function refreshSeller(): Promise<void> {
  const account = seller();
  if (!account) return;
  const result = await request(connection(), SellerView, { account });
  if (!result.account) throw new Error(`the seller ${account} is not on this platform`);
  renderSeller(result.account);
}

function logEvent(type: string, created: string): void {
  const item = document.createElement("li");
  item.textContent = `${created} ${type}`;
  page.eventLog.prepend(item);
  while (page.eventLog.children.length > MAX_LOGGED_EVENTS) page.eventLog.lastElementChild?.remove();
}

/** Streams the seller's events (acting as the seller), re-reading the dashboard on each. */
function goLive(): void {
  live?.stop();
  live = null;
  const account = seller();
  const current = connection();
  if (!account || !current.url || !current.key) return;
  const client = subscriptions(current, account);
  // A replaced client's late events must not relabel the current one.
  const status = (text: string) => () => {
    if (live?.client === client) page.liveStatus.textContent = text;
  };
  client.on("connected", status("(live)"));
  client.on("closed", status("(offline)"));
  const stop = subscribe(client, SellerEvents, {}, {
    next: ({ events }) => {
      logEvent(events.type, events.created);
      refreshSeller().catch(showError);
    },
    error: showError,
  });
  live = {
    client,
    stop: () => {
      stop();
      void client.dispose();
    },
  };
}

// --- The buyer's checkout: the policy prices it, a destination charge pays the seller. ---

/** A fresh idempotency key; getRandomValues works on plain-http origins too, unlike randomUUID. */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `checkout-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

function checkoutInput(account: string, cents: number): CreateChargeInput {
  return {
    amount: cents,
    currency: CURRENCY,
    paymentMethod: TEST_CARD,
    transferData: { destination: account },
    description: "Marketplace order",
  };
}

async function previewFee(): Promise<void> {
  const account = seller();
  const cents = parseDollars(page.price.value);
  if (!account || cents === null) {
    page.feePreview.textContent = page.sellerShare.textContent = "–";
    return;
  }
  const result = await request(connection(), PreviewCheckout, {
    input: checkoutInput(account, cents),
  });
  const fee = result.previewCharge.applicationFee?.amount ?? 0;
  page.policyName.textContent = result.platform.policy.name;
  page.feePreview.textContent = formatCents(fee);
  page.sellerShare.textContent = formatCents(cents - fee);
}

async function pay(): Promise<void> {
  const account = seller();
  const cents = parseDollars(page.price.value);
  if (!account) throw new Error("sign a seller up first");
  if (cents === null) throw new Error("the price must be a positive amount such as 12.50");
  const { createCharge: charge } = await request(connection(), Checkout, {
    input: { ...checkoutInput(account, cents), idempotencyKey: idempotencyKey() },
  });
  const fee = charge.applicationFee?.amount.amount ?? 0;
  page.receipt.textContent =
    `Paid ${charge.amount.decimal} ${charge.amount.currency.toUpperCase()} (${charge.id}, ${charge.status}): ` +
    `fee ${formatCents(fee)} by policy ${charge.pricing.policy}, ` +
    `${formatCents(charge.amount.amount - fee)} to the seller.`;
  // The dashboard is not refreshed here: the subscription's events do it.
}

// --- Wiring. ---

async function signUp(): Promise<void> {
  const { createAccount } = await request(connection(), CreateSeller, {
    email: page.sellerEmail.value.trim(),
  });
  sessionStorage.setItem(STORED.seller, createAccount.id);
  page.sellerId.textContent = createAccount.id;
  goLive();
  await refreshSeller();
  await previewFee();
}

async function onboard(): Promise<void> {
  const account = seller();
  if (!account) throw new Error("sign a seller up first");
  const here = `${location.origin}${location.pathname}`;
  const { createAccountLink } = await request(connection(), CreateOnboardingLink, {
    account,
    returnUrl: `${here}?onboarding=done`,
    refreshUrl: `${here}?onboarding=expired`,
  });
  location.assign(createAccountLink.url);
}

async function advanceClock(): Promise<void> {
  const days = Number(page.advanceDays.value);
  if (!Number.isInteger(days) || days < 1 || days > MAX_ADVANCE_DAYS) {
    throw new Error(`days must be a whole number from 1 to ${MAX_ADVANCE_DAYS}`);
  }
  const { advanceClock: now } = await request(connection(), AdvanceClock, {
    seconds: days * SECONDS_PER_DAY,
  });
  page.clock.textContent = `The platform's clock is now ${now}.`;
}

function start(): void {
  page.serverUrl.value =
    sessionStorage.getItem(STORED.url) ?? import.meta.env.VITE_TOLLGATE_URL ?? "http://127.0.0.1:8080";
  page.apiKey.value = sessionStorage.getItem(STORED.key) ?? import.meta.env.VITE_TOLLGATE_KEY ?? "";
  page.sellerId.textContent = seller() ?? "none yet";

  const returned = new URLSearchParams(location.search).get("onboarding");
  if (returned === "expired") {
    page.onboardingStatus.textContent = "The onboarding link was used or expired: ask for a new one.";
  }
  if (returned) history.replaceState(null, "", location.pathname);

  page.saveConnection.addEventListener("click", () => {
    sessionStorage.setItem(STORED.url, connection().url);
    sessionStorage.setItem(STORED.key, connection().key);
    goLive();
    refreshSeller().then(previewFee).catch(showError);
  });
  onClick(page.signUp, signUp);
  onClick(page.onboard, onboard);
  onClick(page.pay, pay);
  onClick(page.advanceClock, advanceClock);
  page.price.addEventListener("input", () => void previewFee().catch(showError));

  goLive();
  refreshSeller().then(previewFee).catch(showError);
}

start();
