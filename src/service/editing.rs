//! Changing a conversation: a new reply for its last one (regenerate), or a
//! new version of one of its questions (edit). Nothing is deleted: replaced
//! messages keep their rows with `superseded_by` set, and the conversation
//! is the messages without it, in order (served by the partial index
//! `chat_messages_conversation`).
//!
//! Each is one transaction that locks the session first, so changes to one
//! conversation happen one after the other on any backend, and decides with
//! conditional updates checked by their row count, never with a read
//! followed by a write. The new rows are stored exactly as a send stores its
//! own (the reply `generating`, leased to its writer), after everything in
//! the session, so the rest — writing, following, stopping, takeover — is
//! the send's.

use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::messages::{
    bump, insert, new_row, next_time, stored, Exchange, Lease, MessageWithSources,
};
use super::sessions;
use crate::db::models::{Message, Session};
use crate::db::schema::chat_messages;
use crate::db::{write_transaction, DbConnection};
use crate::domain::{MessageStatus, Role};
use crate::error::AppError;

diesel::alias!(chat_messages as other: OtherMessages);

/// A message of the session by id; 404 when it is not in that session.
fn message_in(
    conn: &mut DbConnection,
    session_id: &str,
    message_id: &str,
) -> Result<Message, AppError> {
    chat_messages::table
        .find(message_id)
        .filter(chat_messages::session_id.eq(session_id))
        .select(Message::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("message"))
}

/// Replaces the last reply of the conversation with a new one
/// (`generating`, leased to `lease.owner`): the old one gets
/// `superseded_by`. 404 when the session or message is absent or not the
/// caller's; 409 when the message is not the conversation's last reply, or
/// that reply is still being written (a stopped one may be regenerated).
/// `also` runs inside the transaction (idempotency keys). Returns the new
/// reply and the session as it was before.
pub fn start_regenerate(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    message_id: &str,
    lease: &Lease,
    also: impl FnOnce(&mut DbConnection, &MessageWithSources) -> Result<(), AppError>,
) -> Result<(MessageWithSources, Session), AppError> {
    write_transaction(conn, |conn| {
        let session = sessions::lock_owned(conn, user_id, session_id)?;
        let old = message_in(conn, session_id, message_id)?;
        let at = next_time(&session);
        let reply = new_row(session_id, Role::Assistant, "", at, Some(lease));
        let later_in_conversation = other
            .filter(other.field(chat_messages::session_id).eq(session_id))
            .filter(other.field(chat_messages::superseded_by).is_null())
            .filter(
                other
                    .field(chat_messages::created_at)
                    .gt(old.created_at)
                    .or(other
                        .field(chat_messages::created_at)
                        .eq(old.created_at)
                        .and(other.field(chat_messages::id).gt(&old.id))),
            );
        let replaced = diesel::update(
            chat_messages::table
                .find(message_id)
                .filter(chat_messages::role.eq(Role::Assistant))
                .filter(chat_messages::superseded_by.is_null())
                .filter(chat_messages::status.ne(MessageStatus::Generating))
                .filter(not(exists(later_in_conversation))),
        )
        .set(chat_messages::superseded_by.eq(&reply.id))
        .execute(conn)?;
        if replaced == 0 {
            return Err(AppError::Conflict(
                if old.role == Role::User {
                    "only a reply can be regenerated"
                } else if old.status == MessageStatus::Generating {
                    "the reply is still being written; stop it first"
                } else {
                    "only the last reply of the conversation can be regenerated"
                }
                .into(),
            ));
        }
        insert(conn, &reply)?;
        // One reply out of the conversation, one in.
        bump(conn, session_id, 0, at)?;
        let reply = stored(reply);
        also(conn, &reply)?;
        Ok((reply, session))
    })
}

/// Asks a user message of the conversation again with new `content`: the
/// edited message and everything after it get `superseded_by` = the new
/// question, which is stored with its reply (`generating`, leased) as a
/// send stores them. 404 when the session or message is absent or not the
/// caller's; 409 for an assistant message, a message already replaced, or
/// while a reply after it is still being written. `also` runs inside the
/// transaction. Returns the new exchange and the session as it was before.
pub fn start_edit(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    message_id: &str,
    content: &str,
    lease: &Lease,
    also: impl FnOnce(&mut DbConnection, &Exchange) -> Result<(), AppError>,
) -> Result<(Exchange, Session), AppError> {
    write_transaction(conn, |conn| {
        let session = sessions::lock_owned(conn, user_id, session_id)?;
        let edited = message_in(conn, session_id, message_id)?;
        let at = next_time(&session);
        let question = new_row(session_id, Role::User, content, at, None);
        let reply = new_row(session_id, Role::Assistant, "", at + 1, Some(lease));
        let being_written_after = other
            .filter(other.field(chat_messages::session_id).eq(session_id))
            .filter(other.field(chat_messages::superseded_by).is_null())
            .filter(
                other
                    .field(chat_messages::status)
                    .eq(MessageStatus::Generating),
            )
            .filter(other.field(chat_messages::created_at).ge(edited.created_at));
        let replaced = diesel::update(
            chat_messages::table
                .find(message_id)
                .filter(chat_messages::role.eq(Role::User))
                .filter(chat_messages::superseded_by.is_null())
                .filter(not(exists(being_written_after))),
        )
        .set(chat_messages::superseded_by.eq(&question.id))
        .execute(conn)?;
        if replaced == 0 {
            return Err(AppError::Conflict(
                if edited.role == Role::Assistant {
                    "only a user message can be edited"
                } else if edited.superseded_by.is_some() {
                    "the message was already replaced"
                } else {
                    "a reply after the message is still being written; stop it first"
                }
                .into(),
            ));
        }
        // Everything after it leaves the conversation with it.
        let after = diesel::update(
            chat_messages::table
                .filter(chat_messages::session_id.eq(session_id))
                .filter(chat_messages::superseded_by.is_null())
                .filter(
                    chat_messages::created_at
                        .gt(edited.created_at)
                        .or(chat_messages::created_at
                            .eq(edited.created_at)
                            .and(chat_messages::id.gt(&edited.id))),
                ),
        )
        .set(chat_messages::superseded_by.eq(&question.id))
        .execute(conn)?;
        for row in [&question, &reply] {
            insert(conn, row)?;
        }
        let left = 1 + i64::try_from(after).unwrap_or(i64::MAX);
        bump(conn, session_id, 2 - left, at + 1)?;
        let exchange = Exchange {
            user_message: stored(question),
            reply: stored(reply),
        };
        also(conn, &exchange)?;
        Ok((exchange, session))
    })
}
