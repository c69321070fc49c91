// The whole flow of a frontend, written against the client generated from the served OpenAPI
// document (openapi-typescript + openapi-fetch), then run against a real server.
//
// `tsc --strict` over this file is the check that the document gives a frontend exact types:
// every request and answer below is typed by `generated/schema.d.ts` alone — no `any`, no casts
// (tests/sdk/run.sh rejects both) — so a change of the document that would break a frontend's
// code breaks this file. Running it checks that the server answers what those types promise.
//
//   BASE_URL=http://127.0.0.1:8080 npx tsx flow.ts

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];
type Message = Schemas["Message"];
type UserMessage = Schemas["UserMessage"];
type AssistantMessage = Schemas["AssistantMessage"];
type IncompleteReply = Schemas["IncompleteReply"];
type MessageExchange = Schemas["MessageExchange"];
type Delta = Schemas["Delta"];
type ErrorResponse = Schemas["ErrorResponse"];
type SendBody = NonNullable<
  paths["/sessions/{id}/messages"]["post"]["requestBody"]
>["content"]["application/json"];

const BASE_URL = process.env.BASE_URL ?? "http://127.0.0.1:8080";

class Mismatch extends Error {}

/** Fails the check with a message that says what was expected. */
function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Mismatch(what);
}

function step(name: string): void {
  console.log(`[sdk-flow] ${name}`);
}

/** A client as a frontend builds one: the generated `paths`, a bearer token added per request. */
function makeClient() {
  let token: string | undefined;
  const client = createClient<paths>({ baseUrl: BASE_URL });
  client.use({
    onRequest({ request }) {
      if (token !== undefined) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  });
  return {
    client,
    signIn(accessToken: string) {
      token = accessToken;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events, typed by the document's schemas. The event names come from the document's
// `ReplyStreamEvent` union; each maps to the schema its `data` holds (the document ties them with
// `contentSchema`), so an event added to the document fails to compile here until it is mapped.
// Events not in the document are skipped, as the contract asks of clients.

type EventName = Schemas["ReplyStreamEvent"]["event"];
interface StreamPayloads {
  user_message: UserMessage;
  reply_started: IncompleteReply;
  delta: Delta;
  assistant_message: AssistantMessage;
  error: ErrorResponse;
}
// Compiles only while the document's event names and this map's keys are the same set: a name
// on one side only becomes a required key of this empty object.
const unmappedEvents: Record<
  Exclude<EventName, keyof StreamPayloads> | Exclude<keyof StreamPayloads, EventName>,
  never
> = {};
void unmappedEvents;

type StreamEvent = {
  [E in keyof StreamPayloads]: { event: E; id: string | undefined; data: StreamPayloads[E] };
}[keyof StreamPayloads];

/** True when `value` is an object with every listed field. The fields are keys of the generated
 * type, so a field renamed or removed in the document fails to compile here. */
function hasFields<T>(value: unknown, fields: readonly (keyof T & string)[]): value is T {
  if (typeof value !== "object" || value === null) return false;
  return fields.every((field) => field in value);
}

const isMessage = (value: unknown): value is Message =>
  hasFields<Message>(value, ["id", "session_id", "role", "content", "created_at", "sources", "status"]);
const isUserMessage = (value: unknown): value is UserMessage => isMessage(value) && value.role === "user";
const isAssistantMessage = (value: unknown): value is AssistantMessage =>
  isMessage(value) && value.role === "assistant";
const isIncompleteReply = (value: unknown): value is IncompleteReply =>
  isAssistantMessage(value) && value.status !== "complete";
const isDelta = (value: unknown): value is Delta => hasFields<Delta>(value, ["content"]);
const isErrorResponse = (value: unknown): value is ErrorResponse =>
  hasFields<ErrorResponse>(value, ["error"]) &&
  hasFields<ErrorResponse["error"]>(value.error, ["code", "message"]);

/** One event from its name, `id:` and `data:`; `undefined` for an event this client ignores. */
function typedEvent(name: string, id: string | undefined, data: string): StreamEvent | undefined {
  const json: unknown = JSON.parse(data);
  switch (name) {
    case "user_message":
      check(isUserMessage(json), `event user_message: data is not a UserMessage: ${data}`);
      return { event: name, id, data: json };
    case "reply_started":
      check(isIncompleteReply(json), `event reply_started: data is not an IncompleteReply: ${data}`);
      return { event: name, id, data: json };
    case "assistant_message":
      check(isAssistantMessage(json), `event assistant_message: data is not an AssistantMessage: ${data}`);
      return { event: name, id, data: json };
    case "delta":
      check(isDelta(json), `event delta: data is not a Delta: ${data}`);
      return { event: name, id, data: json };
    case "error":
      check(isErrorResponse(json), `event error: data is not an ErrorResponse: ${data}`);
      return { event: name, id, data: json };
    default:
      return undefined;
  }
}

/** Reads a `text/event-stream` body: fields per line, an event per blank line, comments
 * (`: keep-alive`) skipped. */
async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "message";
  let id: string | undefined;
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) {
          const event = typedEvent(name, id, data.join("\n"));
          if (event !== undefined) yield event;
        }
        name = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const ann = makeClient();
  const suffix = Date.now().toString(36);
  const email = `ann.${suffix}@example.com`;
  const password = "correct horse battery staple";

  step("register");
  let userId: string;
  {
    const { data, error, response } = await ann.client.POST("/auth/register", {
      body: { email: `  Ann.${suffix}@Example.COM `, password, name: "Ann" },
    });
    check(error === undefined, `register: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 201, `register: status ${response.status}, expected 201`);
    check(data.email === email, `register: email ${data.email}, expected ${email} (trimmed, lower-cased)`);
    check(data.name === "Ann" && !data.is_admin, `register: ${JSON.stringify(data)}`);
    userId = data.id;
  }

  step("register the same email again: 409 conflict");
  {
    const { error, response } = await ann.client.POST("/auth/register", {
      body: { email, password, name: "Ann again" },
    });
    check(error !== undefined, "a second registration of the same email succeeded");
    check(response.status === 409, `second registration: status ${response.status}, expected 409`);
    check(error.error.code === "conflict", `second registration: code ${error.error.code}`);
  }

  step("sign in");
  let refreshToken: string;
  {
    const { data, error, response } = await ann.client.POST("/auth/token", {
      body: { email, password },
    });
    check(error === undefined, `sign in: ${response.status} ${JSON.stringify(error)}`);
    check(data.token_type === "Bearer", `sign in: token_type ${data.token_type}`);
    check(data.expires_in > 0, `sign in: expires_in ${data.expires_in}`);
    ann.signIn(data.access_token);
    refreshToken = data.refresh_token;
  }

  step("refresh");
  {
    const { data, error, response } = await ann.client.POST("/auth/refresh", {
      body: { refresh_token: refreshToken },
    });
    check(error === undefined, `refresh: ${response.status} ${JSON.stringify(error)}`);
    check(data.refresh_token !== refreshToken, "refresh: the refresh token was not rotated");
    ann.signIn(data.access_token);
  }

  step("get me");
  {
    const { data, error, response } = await ann.client.GET("/auth/me");
    check(error === undefined, `me: ${response.status} ${JSON.stringify(error)}`);
    check(data.id === userId && data.email === email, `me: ${JSON.stringify(data)}`);
  }

  step("create a session");
  let sessionId: string;
  {
    const { data, error, response } = await ann.client.POST("/sessions", { body: {} });
    check(error === undefined, `create session: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 201, `create session: status ${response.status}, expected 201`);
    check(data.title === null, `create session: title ${data.title}, expected null`);
    check(data.message_count === 0, `create session: message_count ${data.message_count}`);
    sessionId = data.id;
  }

  step("list sessions");
  {
    const { data, error, response } = await ann.client.GET("/sessions", {
      params: { query: { limit: 10 } },
    });
    check(error === undefined, `list sessions: ${response.status} ${JSON.stringify(error)}`);
    check(
      data.items.some((session) => session.id === sessionId),
      `list sessions: ${sessionId} is missing`,
    );
    check(data.next_cursor === null, `list sessions: next_cursor ${data.next_cursor}`);
  }

  step("send messages");
  const questions = [
    "How do I build an emergency fund?",
    "What is an index fund?",
    "Should I pay off debt before investing?",
  ];
  const sentIds: string[] = [];
  for (const question of questions) {
    const { data, error, response } = await ann.client.POST("/sessions/{id}/messages", {
      params: { path: { id: sessionId } },
      body: { content: `  ${question}  ` },
    });
    check(error === undefined, `send: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 201, `send: status ${response.status}, expected 201`);
    // The non-streamed send must be typed as the exchange, not as a union with the stream.
    const exchange: MessageExchange = data;
    const { user_message: asked, assistant_message: reply } = exchange;
    check(asked.role === "user", `send: user_message.role ${asked.role}`);
    check(asked.content === question, `send: user content ${JSON.stringify(asked.content)}`);
    check(asked.session_id === sessionId, "send: user_message.session_id");
    check(asked.model === null && asked.latency_ms === null, "send: a user message with a model or latency");
    check(reply.role === "assistant", `send: assistant_message.role ${reply.role}`);
    check(reply.content.trim().length > 0, "send: the reply is empty");
    // Narrowed on `status`, a finished reply's metadata is typed as always there: no null check.
    check(reply.status === "complete", `send: the reply is ${reply.status}, expected complete`);
    const model: string = reply.model;
    const latency: number = reply.latency_ms;
    const confidence: number = reply.confidence;
    check(model.length > 0, "send: the reply has no model");
    check(latency >= 0, `send: latency_ms ${latency}`);
    check(confidence >= 0 && confidence <= 1, `send: confidence ${confidence}`);
    check(typeof reply.fallback === "boolean", "send: fallback is not a boolean");
    check(
      reply.sources.every((source) => source.url.length > 0 && source.title.length > 0),
      "send: a source without url or title",
    );
    sentIds.push(asked.id, reply.id);
  }

  step("paginate the history with limit and next_cursor");
  {
    const seen: Message[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const { data, error, response } = await ann.client.GET("/sessions/{id}/messages", {
        params: { path: { id: sessionId }, query: { limit: 4, cursor } },
      });
      check(error === undefined, `history: ${response.status} ${JSON.stringify(error)}`);
      check(data.items.length <= 4, `history: ${data.items.length} items on a page of 4`);
      seen.push(...data.items);
      pages += 1;
      check(pages <= 10, "history: next_cursor never became null");
      if (data.next_cursor === null) break;
      cursor = data.next_cursor;
    }
    check(pages === 2, `history: ${pages} pages of 4 for 6 messages, expected 2`);
    // The history's items narrow on `role`, then a reply on `status`.
    for (const message of seen) {
      switch (message.role) {
        case "user":
          check(message.fallback === false && message.sources.length === 0, "history: a user message with sources");
          break;
        case "assistant":
          if (message.status === "complete") {
            const model: string = message.model;
            check(model.length > 0, `history: reply ${message.id} has no model`);
          } else {
            throw new Mismatch(`history: reply ${message.id} is ${message.status}, expected complete`);
          }
          break;
      }
    }
    const ids = seen.map((message) => message.id);
    check(
      JSON.stringify(ids) === JSON.stringify(sentIds),
      `history: ${JSON.stringify(ids)}, expected oldest first ${JSON.stringify(sentIds)}`,
    );
  }

  step("get, rename");
  {
    const got = await ann.client.GET("/sessions/{id}", { params: { path: { id: sessionId } } });
    check(got.error === undefined, `get session: ${got.response.status}`);
    check(got.data.message_count === 6, `get session: message_count ${got.data.message_count}`);
    const { data, error, response } = await ann.client.PATCH("/sessions/{id}", {
      params: { path: { id: sessionId } },
      body: { title: "Emergency fund" },
    });
    check(error === undefined, `rename: ${response.status} ${JSON.stringify(error)}`);
    check(data.title === "Emergency fund", `rename: title ${data.title}`);
  }

  step("stream a reply (the /stream twin)");
  {
    const body: SendBody = { content: "How much should an emergency fund hold?" };
    // The twin answers only Server-Sent Events, so the client reads the body as a stream.
    const { data: stream, error, response } = await ann.client.POST("/sessions/{id}/messages/stream", {
      params: { path: { id: sessionId } },
      body,
      parseAs: "stream",
    });
    check(error === undefined, `stream: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 200, `stream: status ${response.status}, expected 200`);
    const type = response.headers.get("content-type") ?? "";
    check(type.startsWith("text/event-stream"), `stream: content-type ${type}`);
    check(stream !== null, "stream: no body");
    const names: string[] = [];
    let text = "";
    let asked: UserMessage | undefined;
    let started: IncompleteReply | undefined;
    let reply: AssistantMessage | undefined;
    for await (const event of readEvents(stream)) {
      names.push(event.event);
      switch (event.event) {
        case "user_message":
          asked = event.data;
          break;
        case "reply_started":
          started = event.data;
          break;
        case "delta":
          text += event.data.content;
          break;
        case "assistant_message":
          reply = event.data;
          break;
        case "error":
          throw new Mismatch(`stream: error event ${event.data.error.code}: ${event.data.error.message}`);
      }
    }
    check(names[0] === "user_message", `stream: events ${names.join(",")} do not start with user_message`);
    check(names[1] === "reply_started", `stream: events ${names.join(",")}: reply_started is not second`);
    check(started !== undefined && started.status === "generating", "stream: reply_started is not generating");
    check(names.at(-1) === "assistant_message", `stream: events ${names.join(",")} do not end with assistant_message`);
    check(names.includes("delta"), `stream: no delta among ${names.join(",")}`);
    check(asked !== undefined && asked.role === "user", "stream: user_message is not the user's");
    check(asked.content === body.content, `stream: user content ${JSON.stringify(asked.content)}`);
    check(reply !== undefined && reply.role === "assistant", "stream: assistant_message is not the assistant's");
    check(reply.id === started.id, "stream: assistant_message is not the reply that started");
    check(reply.content.length > 0, "stream: the reply is empty");
    check(reply.status === "complete", `stream: the reply is ${reply.status}, expected complete`);
    const model: string = reply.model;
    check(model.length > 0, "stream: the finished reply has no model");
    check(
      reply.content === text || reply.fallback,
      "stream: the deltas do not add up to the reply's content",
    );
    const last = await ann.client.GET("/sessions/{id}/messages", {
      params: { path: { id: sessionId }, query: { order: "desc", limit: 1 } },
    });
    check(last.error === undefined, `history after the stream: ${last.response.status}`);
    check(last.data.items[0]?.id === reply.id, "stream: the streamed reply was not stored last");
  }

  step("errors through the typed error shape");
  {
    const unauthenticated = makeClient();
    const me = await unauthenticated.client.GET("/auth/me");
    check(me.error !== undefined, "me without a token succeeded");
    check(me.response.status === 401, `me without a token: status ${me.response.status}`);
    check(me.error.error.code === "unauthorized", `me without a token: code ${me.error.error.code}`);
    const challenge = me.response.headers.get("www-authenticate") ?? "";
    check(challenge.startsWith("Bearer"), `me without a token: WWW-Authenticate ${challenge}`);

    const bob = makeClient();
    const bobEmail = `bob.${suffix}@example.com`;
    const registered = await bob.client.POST("/auth/register", {
      body: { email: bobEmail, password, name: "Bob" },
    });
    check(registered.error === undefined, `register bob: ${registered.response.status}`);
    const signedIn = await bob.client.POST("/auth/token", { body: { email: bobEmail, password } });
    check(signedIn.error === undefined, `sign in bob: ${signedIn.response.status}`);
    bob.signIn(signedIn.data.access_token);

    const other = await bob.client.GET("/sessions/{id}", { params: { path: { id: sessionId } } });
    check(other.error !== undefined, "another user's session was readable");
    check(other.response.status === 404, `another user's session: status ${other.response.status}`);
    check(other.error.error.code === "not_found", `another user's session: code ${other.error.error.code}`);

    const blank = await ann.client.POST("/sessions/{id}/messages", {
      params: { path: { id: sessionId } },
      body: { content: "   " },
    });
    check(blank.error !== undefined, "a blank message was accepted");
    check(blank.response.status === 422, `blank message: status ${blank.response.status}`);
    check(blank.error.error.code === "validation_failed", `blank message: code ${blank.error.error.code}`);
    const details = blank.error.error.details ?? [];
    check(
      details.some((detail) => detail.field === "content" && detail.message.length > 0),
      `blank message: details ${JSON.stringify(details)} do not name content`,
    );
  }

  step("delete");
  {
    const { error, response } = await ann.client.DELETE("/sessions/{id}", {
      params: { path: { id: sessionId } },
    });
    check(error === undefined, `delete: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 204, `delete: status ${response.status}, expected 204`);
    const gone = await ann.client.GET("/sessions/{id}", { params: { path: { id: sessionId } } });
    check(gone.response.status === 404, `deleted session: status ${gone.response.status}`);
    check(gone.error?.error.code === "not_found", "deleted session: not not_found");
  }

  console.log("[sdk-flow] the whole flow matches the generated types");
}

const deadline = setTimeout(() => {
  console.error("[sdk-flow] FAILED: the flow did not finish within 60 s");
  process.exit(1);
}, 60_000);

main().then(
  () => clearTimeout(deadline),
  (failure: unknown) => {
    const reason =
      failure instanceof Mismatch ? failure.message : failure instanceof Error ? failure.stack : String(failure);
    console.error(`[sdk-flow] FAILED: ${reason}`);
    process.exit(1);
  },
);
