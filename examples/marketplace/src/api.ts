// A typed client for tollgate: queries and mutations over HTTP POST, subscriptions over
// graphql-ws. Every document comes from src/gql/, so results and variables are typed.
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentString } from "./gql/graphql";

/** Where the server is and the platform's secret key. */
export interface Connection {
  url: string;
  key: string;
}

/** A GraphQL error as tollgate sends it: a message, a code and the offending input. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

interface GraphQLError {
  message: string;
  extensions?: { code?: string; param?: string };
}

interface GraphQLResponse<Result> {
  data?: Result | null;
  errors?: GraphQLError[];
}

function firstError(errors: GraphQLError[]): ApiError {
  const [error] = errors;
  return new ApiError(error.message, error.extensions?.code, error.extensions?.param);
}

/** Sends one query or mutation; a GraphQL error is thrown as an ApiError. */
export async function request<Result, Variables>(
  connection: Connection,
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await fetch(`${connection.url}/graphql`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${connection.key}`,
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json",
    },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const body = (await response.json()) as GraphQLResponse<Result>;
  if (body.errors?.length) throw firstError(body.errors);
  if (!body.data) throw new ApiError(`the server answered ${response.status} without data`);
  return body.data;
}

/**
 * A graphql-ws client for `/graphql/ws`. The key (and the connected account to act as)
 * travel in the connection_init payload, as the server reads them there, not in headers.
 */
export function subscriptions(connection: Connection, connectAccount?: string): Client {
  const url = new URL("/graphql/ws", connection.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const params: Record<string, string> = { Authorization: `Bearer ${connection.key}` };
  if (connectAccount) params["Connect-Account"] = connectAccount;
  return createClient({ url: url.toString(), connectionParams: params, lazy: false });
}

/** Subscribes to a typed subscription; returns the function that ends it. */
export function subscribe<Result, Variables extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
  handlers: { next: (result: Result) => void; error: (error: Error) => void },
): () => void {
  return client.subscribe<Result, Variables>(
    { query: document.toString(), variables },
    {
      next: (message) => {
        if (message.errors?.length) handlers.error(firstError([...message.errors]));
        else if (message.data) handlers.next(message.data);
      },
      error: (error) => handlers.error(error instanceof Error ? error : new Error(describe(error))),
      complete: () => {},
    },
  );
}

/** A close event or anything else graphql-ws reports, as text. */
function describe(error: unknown): string {
  if (error instanceof CloseEvent) return `the socket closed (${error.code} ${error.reason})`;
  return String(error);
}
