//! Everything stored about a conversation, or about a user, in one read.

use std::collections::HashMap;

use diesel::prelude::*;

use super::messages::{with_sources, MessageWithSources};
use super::sessions;
use crate::db::models::{Message, Session};
use crate::db::schema::{chat_messages, chat_sessions};
use crate::db::DbConnection;
use crate::error::AppError;

/// A session with its messages in conversation order.
#[derive(Debug, Clone)]
pub struct SessionWithMessages {
    pub session: Session,
    pub messages: Vec<MessageWithSources>,
}

/// The caller's session with its conversation (and the superseded messages
/// too with `include_superseded`), oldest first; 404 when it is absent or
/// someone else's.
pub fn session(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    include_superseded: bool,
) -> Result<SessionWithMessages, AppError> {
    // One snapshot: the session and its messages as they were together.
    conn.transaction(|conn| {
        let session = sessions::get_owned(conn, user_id, session_id)?;
        let mut query = chat_messages::table
            .filter(chat_messages::session_id.eq(session_id))
            .order((chat_messages::created_at.asc(), chat_messages::id.asc()))
            .select(Message::as_select())
            .into_boxed();
        if !include_superseded {
            query = query.filter(chat_messages::superseded_by.is_null());
        }
        let rows = query.load(conn)?;
        let messages = with_sources(conn, rows)?;
        Ok(SessionWithMessages { session, messages })
    })
}

/// Every session of the user (oldest first) with every stored message,
/// superseded ones included, oldest first.
pub fn account(
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<SessionWithMessages>, AppError> {
    conn.transaction(|conn| {
        let sessions: Vec<Session> = chat_sessions::table
            .filter(chat_sessions::user_id.eq(user_id))
            .order((chat_sessions::created_at.asc(), chat_sessions::id.asc()))
            .select(Session::as_select())
            .load(conn)?;
        let rows: Vec<Message> = chat_messages::table
            .inner_join(chat_sessions::table)
            .filter(chat_sessions::user_id.eq(user_id))
            .order((chat_messages::created_at.asc(), chat_messages::id.asc()))
            .select(Message::as_select())
            .load(conn)?;
        let mut by_session: HashMap<String, Vec<MessageWithSources>> = HashMap::new();
        for message in with_sources(conn, rows)? {
            by_session
                .entry(message.message.session_id.clone())
                .or_default()
                .push(message);
        }
        Ok(sessions
            .into_iter()
            .map(|session| SessionWithMessages {
                messages: by_session.remove(&session.id).unwrap_or_default(),
                session,
            })
            .collect())
    })
}
