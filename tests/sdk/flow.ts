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
type CompleteReply = Schemas["CompleteReply"];
type SearchHit = Schemas["SearchHit"];
type SessionExport = Schemas["SessionExport"];
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
  let streamedReplyId: string;
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
    streamedReplyId = reply.id;
  }

  step("regenerate the last reply (the /regenerate/stream twin)");
  let regenerated: CompleteReply;
  {
    const { data: stream, error, response } = await ann.client.POST(
      "/sessions/{id}/messages/{message_id}/regenerate/stream",
      { params: { path: { id: sessionId, message_id: streamedReplyId } }, body: {}, parseAs: "stream" },
    );
    check(error === undefined, `regenerate: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 200, `regenerate: status ${response.status}, expected 200`);
    check(stream !== null, "regenerate: no body");
    const names: string[] = [];
    let started: IncompleteReply | undefined;
    let reply: AssistantMessage | undefined;
    for await (const event of readEvents(stream)) {
      names.push(event.event);
      if (event.event === "reply_started") started = event.data;
      else if (event.event === "assistant_message") reply = event.data;
      else if (event.event === "error") throw new Mismatch(`regenerate: error event ${event.data.error.code}`);
    }
    // A regenerate asks no new question: no user_message.
    check(names[0] === "reply_started", `regenerate: events ${names.join(",")} do not start with reply_started`);
    check(!names.includes("user_message"), `regenerate: events ${names.join(",")} include a user_message`);
    check(started !== undefined && started.id !== streamedReplyId, "regenerate: reply_started is the old reply");
    check(reply !== undefined && reply.id === started.id, "regenerate: assistant_message is not the new reply");
    check(reply.status === "complete", `regenerate: the new reply is ${reply.status}`);
    regenerated = reply;

    // The old reply stays stored, replaced, and leaves the conversation.
    const old = await ann.client.GET("/sessions/{id}/messages/{message_id}", {
      params: { path: { id: sessionId, message_id: streamedReplyId } },
    });
    check(old.error === undefined, `regenerate: old reply ${old.response.status}`);
    check(old.data.superseded_by === regenerated.id, `regenerate: old superseded_by ${old.data.superseded_by}`);
    const conversation = await ann.client.GET("/sessions/{id}/messages", {
      params: { path: { id: sessionId }, query: { limit: 50 } },
    });
    check(conversation.error === undefined, `regenerate: history ${conversation.response.status}`);
    const ids = conversation.data.items.map((message) => message.id);
    check(!ids.includes(streamedReplyId), "regenerate: the replaced reply is still in the conversation");
    check(ids.at(-1) === regenerated.id, "regenerate: the new reply is not last");
    const all = await ann.client.GET("/sessions/{id}/messages", {
      params: { path: { id: sessionId }, query: { limit: 50, include_superseded: true } },
    });
    check(all.error === undefined, `regenerate: full history ${all.response.status}`);
    check(
      all.data.items.some((message) => message.id === streamedReplyId),
      "regenerate: include_superseded does not list the replaced reply",
    );
  }

  step("rate the new reply, then a question (409)");
  {
    const { data, error, response } = await ann.client.PUT("/sessions/{id}/messages/{message_id}/feedback", {
      params: { path: { id: sessionId, message_id: regenerated.id } },
      body: { rating: "up", comment: "  Clear and practical.  " },
    });
    check(error === undefined, `feedback: ${response.status} ${JSON.stringify(error)}`);
    // The answer is typed as an assistant message: its feedback is the rating just given.
    const rated: AssistantMessage = data;
    check(rated.id === regenerated.id, "feedback: another message came back");
    check(rated.feedback !== null, "feedback: no feedback on the rated reply");
    check(rated.feedback.rating === "up", `feedback: rating ${rated.feedback.rating}`);
    check(rated.feedback.comment === "Clear and practical.", `feedback: comment ${rated.feedback.comment}`);

    const history = await ann.client.GET("/sessions/{id}/messages", {
      params: { path: { id: sessionId }, query: { limit: 50 } },
    });
    check(history.error === undefined, `feedback: history ${history.response.status}`);
    for (const message of history.data.items) {
      if (message.role === "user") {
        check(message.feedback === null, `feedback: user message ${message.id} has feedback`);
      } else if (message.id === regenerated.id) {
        check(message.feedback?.rating === "up", "feedback: the history does not show the rating");
      }
    }
    const question = history.data.items.find((message) => message.role === "user");
    check(question !== undefined, "feedback: no user message in the history");
    const refused = await ann.client.PUT("/sessions/{id}/messages/{message_id}/feedback", {
      params: { path: { id: sessionId, message_id: question.id } },
      body: { rating: "down" },
    });
    check(refused.error !== undefined, "feedback on a user message was accepted");
    check(refused.response.status === 409, `feedback on a question: status ${refused.response.status}`);
    check(refused.error.error.code === "conflict", `feedback on a question: code ${refused.error.error.code}`);

    const removed = await ann.client.DELETE("/sessions/{id}/messages/{message_id}/feedback", {
      params: { path: { id: sessionId, message_id: regenerated.id } },
    });
    check(removed.response.status === 204, `delete feedback: status ${removed.response.status}`);
    const again = await ann.client.GET("/sessions/{id}/messages/{message_id}", {
      params: { path: { id: sessionId, message_id: regenerated.id } },
    });
    check(again.error === undefined && again.data.feedback === null, "delete feedback: the rating is still there");
  }

  step("edit a question");
  {
    const history = await ann.client.GET("/sessions/{id}/messages", {
      params: { path: { id: sessionId }, query: { order: "desc", limit: 2 } },
    });
    check(history.error === undefined, `edit: history ${history.response.status}`);
    const last = history.data.items.find((message) => message.role === "user");
    check(last !== undefined, "edit: no user message among the last two");
    const content = "How much should an emergency fund hold if my income is irregular?";
    const { data, error, response } = await ann.client.POST("/sessions/{id}/messages/{message_id}/edit", {
      params: { path: { id: sessionId, message_id: last.id } },
      body: { content },
    });
    check(error === undefined, `edit: ${response.status} ${JSON.stringify(error)}`);
    check(response.status === 201, `edit: status ${response.status}, expected 201`);
    const exchange: MessageExchange = data;
    check(exchange.user_message.content === content, "edit: the new question's content");
    check(exchange.user_message.id !== last.id, "edit: the edited question came back");
    check(exchange.assistant_message.status === "complete", "edit: the reply is not complete");
    const old = await ann.client.GET("/sessions/{id}/messages/{message_id}", {
      params: { path: { id: sessionId, message_id: last.id } },
    });
    check(old.error === undefined, `edit: old question ${old.response.status}`);
    check(old.data.superseded_by === exchange.user_message.id, `edit: old superseded_by ${old.data.superseded_by}`);
  }

  step("search");
  {
    const { data, error, response } = await ann.client.GET("/search", {
      params: { query: { q: "index funds", limit: 10 } },
    });
    check(error === undefined, `search: ${response.status} ${JSON.stringify(error)}`);
    const hits: SearchHit[] = data.items;
    const hit = hits.find((h) => h.message.role === "user" && h.message.content === "What is an index fund?");
    check(hit !== undefined, `search: "What is an index fund?" not found among ${hits.length} hits`);
    check(hit.session_id === sessionId, "search: the hit's session");
    check(hit.session_title === "Emergency fund", `search: session_title ${hit.session_title}`);
    check(hit.snippet.includes("«index»"), `search: snippet ${hit.snippet} does not mark the match`);
    const empty = await ann.client.GET("/search", { params: { query: { q: "" } } });
    check(empty.error !== undefined && empty.response.status === 400, `search without words: ${empty.response.status}`);
  }

  step("export the session (JSON and Markdown) and the account");
  {
    const json = await ann.client.GET("/sessions/{id}/export", {
      params: { path: { id: sessionId }, query: { format: "json" } },
    });
    check(json.error === undefined, `export: ${json.response.status} ${JSON.stringify(json.error)}`);
    // One operation answers JSON or Markdown (by `format`), so the data is typed as either: a
    // typeof check narrows it, no cast.
    check(typeof json.data !== "string", "export: format=json answered text");
    const exported: SessionExport = json.data;
    check(exported.session.id === sessionId, "export: another session");
    check(
      exported.messages.every((message) => message.superseded_by === null),
      "export: a replaced message without include_superseded",
    );
    check(exported.messages.length === exported.session.message_count, "export: messages and message_count differ");
    const disposition = json.response.headers.get("content-disposition") ?? "";
    check(disposition === 'attachment; filename="Emergency fund.json"', `export: Content-Disposition ${disposition}`);

    const markdown = await ann.client.GET("/sessions/{id}/export", {
      params: { path: { id: sessionId }, query: { format: "markdown", include_superseded: true } },
      parseAs: "text",
    });
    check(markdown.error === undefined, `export markdown: ${markdown.response.status}`);
    const text: string = markdown.data;
    check(text.startsWith("# Emergency fund\n"), `export markdown: ${text.slice(0, 40)}`);
    check(text.includes("· superseded"), "export markdown: replaced messages are not marked");
    const type = markdown.response.headers.get("content-type") ?? "";
    check(type.startsWith("text/markdown"), `export markdown: content-type ${type}`);

    const account = await ann.client.GET("/auth/me/export");
    check(account.error === undefined, `account export: ${account.response.status}`);
    check(account.data.user.id === userId, "account export: another user");
    const session = account.data.sessions.find((s) => s.session.id === sessionId);
    check(session !== undefined, "account export: the session is missing");
    check(
      session.messages.some((message) => message.id === streamedReplyId && message.superseded_by !== null),
      "account export: the replaced reply is missing",
    );
  }

  step("usage");
  {
    const { data, error, response } = await ann.client.GET("/auth/me/usage");
    check(error === undefined, `usage: ${response.status} ${JSON.stringify(error)}`);
    const spent = data.prompt_tokens + data.completion_tokens;
    // run.sh sets TOKEN_QUOTA_PER_DAY, so both are numbers here; the types say they may be null.
    check(data.quota !== null && data.remaining !== null, "usage: no quota");
    check(data.remaining === Math.max(0, data.quota - spent), `usage: remaining ${data.remaining}`);
    check(new Date(data.resets_at).getTime() > Date.now(), `usage: resets_at ${data.resets_at}`);
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

    // Bob leaves: his password confirms it, and his tokens stop working.
    const wrong = await bob.client.DELETE("/auth/me", { body: { password: "not the password" } });
    check(wrong.error !== undefined, "an account was deleted with a wrong password");
    check(wrong.response.status === 401, `delete account, wrong password: status ${wrong.response.status}`);
    check(wrong.error.error.code === "invalid_credentials", `delete account: code ${wrong.error.error.code}`);
    const deleted = await bob.client.DELETE("/auth/me", { body: { password } });
    check(deleted.response.status === 204, `delete account: status ${deleted.response.status}`);
    const after = await bob.client.GET("/auth/me");
    check(after.response.status === 401, `a deleted account's token: status ${after.response.status}`);
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
