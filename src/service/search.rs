//! Full-text search over the caller's conversation messages, on the
//! database's own index (SQLite FTS5; PostgreSQL full-text search).
//!
//! What differs between the backends is one query each ([`sqlite_matches`],
//! [`postgres_matches`]): both take the same safe query text and owner, and
//! answer the same rows (message id, snippet with private markers, a rank
//! where lower is better). Everything around them — the query's safety,
//! pagination, markers, loading the messages — is shared.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::messages::{with_sources, MessageWithSources};
use super::pagination::{Cursor, Page, PageRequest};
use crate::db::cached::{padded, Cached};
use crate::db::models::Message;
use crate::db::schema::{chat_messages, chat_sessions};
use crate::db::DbConnection;
use crate::error::AppError;

/// The longest query accepted, in characters.
pub const QUERY_MAX_CHARS: usize = 200;
/// The longest snippet answered, in characters (markers included).
pub const SNIPPET_MAX_CHARS: usize = 300;

/// The database marks matches with characters from Unicode's private use
/// area, which no message is expected to hold; [`present_snippet`] turns
/// them into « and » after replacing any « » the text itself contains, so
/// the markers in an answer are always the engine's.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
const ELLIPSIS: &str = "…";
/// How many of the caller's matching messages, newest first, are ranked.
/// Ranking is the cost of a search that grows with the number of matches:
/// a word in most of a user's 100,000 messages would rank them all (over
/// 100 ms). Past this many matches, the best of the most recent ones come
/// first; with fewer, the ranking is exact.
pub const RANKED_CANDIDATES: i64 = 2_000;
/// Tokens around the match that FTS5 puts in a snippet (≤ 64).
const SNIPPET_TOKENS: i32 = 32;

/// A validated search query: its words, each a literal for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl SearchQuery {
    /// 1–200 characters, not blank; otherwise 400 `bad_request`.
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        let raw = raw.ok_or_else(|| AppError::BadRequest("q is required".into()))?;
        if raw.chars().count() > QUERY_MAX_CHARS {
            return Err(AppError::BadRequest(format!(
                "q must be at most {QUERY_MAX_CHARS} characters"
            )));
        }
        let words: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err(AppError::BadRequest("q must not be blank".into()));
        }
        Ok(Self { words })
    }

    /// The FTS5 query: every word a quoted string (inner quotes doubled),
    /// all of them required. Inside quotes FTS5 has no operators — `AND`,
    /// `NEAR`, `*`, `^`, `:`, parentheses are text — and the tokenizer turns
    /// each into the same terms as the indexed text, so no input can break
    /// the query's syntax.
    pub fn fts5(&self) -> String {
        self.words
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// [`SearchQuery::fts5`] limited to `user_id`'s messages: their owner
    /// token (the id without hyphens, as migration `000011` indexes it) in
    /// the `owner` column and the words in `content`.
    pub fn fts5_for_owner(&self, user_id: &str) -> String {
        format!(
            "owner : \"{}\" AND content : ({})",
            user_id.replace(['-', '"'], ""),
            self.fts5()
        )
    }

    /// The text for PostgreSQL's `plainto_tsquery`, which likewise reads no
    /// operators and requires every word (as the FTS5 query does).
    pub fn plain(&self) -> String {
        self.words.join(" ")
    }
}

/// One match: the message, its session's title and the snippet.
#[derive(Debug, Clone)]
pub struct Hit {
    pub session_title: Option<String>,
    pub message: MessageWithSources,
    pub snippet: String,
}

/// A row as both backends' queries answer it.
#[derive(Debug, QueryableByName)]
pub(crate) struct MatchRow {
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    snippet: String,
    /// Lower is better.
    #[diesel(sql_type = Double)]
    rank: f64,
}

/// The caller's messages matching `query`, best match first (ties by id).
pub fn search(
    conn: &mut DbConnection,
    user_id: &str,
    query: &SearchQuery,
    page: &PageRequest,
) -> Result<Page<Hit>, AppError> {
    let after = page
        .after
        .as_ref()
        .map(|c| (rank_of_key(c.key), c.id.as_str()));
    let rows = match conn {
        DbConnection::Pg(_) => postgres_matches(conn, user_id, query, after, page.fetch())?,
        DbConnection::Sqlite(_) => sqlite_matches(conn, user_id, query, after, page.fetch())?,
    };
    let ranks: HashMap<String, f64> = rows
        .iter()
        .map(|r| (r.message_id.clone(), r.rank))
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    let ids = padded(&ids);
    let found: Vec<(Message, Option<String>)> = Cached(
        chat_messages::table
            .inner_join(chat_sessions::table)
            .filter(chat_messages::id.eq_any(&ids))
            // Also checked here, so a row of the index that lags behind could
            // never show another user's message or a superseded one.
            .filter(chat_sessions::user_id.eq(user_id))
            .filter(chat_messages::superseded_by.is_null())
            .select((Message::as_select(), chat_sessions::title)),
    )
    .load(conn)?;
    let mut titles: HashMap<String, Option<String>> = HashMap::new();
    let mut messages = Vec::with_capacity(found.len());
    for (message, title) in found {
        titles.insert(message.id.clone(), title);
        messages.push(message);
    }
    let mut by_id: HashMap<String, MessageWithSources> = with_sources(conn, messages)?
        .into_iter()
        .map(|m| (m.message.id.clone(), m))
        .collect();
    let hits: Vec<Hit> = rows
        .into_iter()
        .filter_map(|row| {
            let message = by_id.remove(&row.message_id)?;
            Some(Hit {
                session_title: titles.remove(&row.message_id).flatten(),
                snippet: present_snippet(&row.snippet),
                message,
            })
        })
        .collect();
    Ok(Page::from_rows(hits, page, |hit| Cursor {
        key: key_of_rank(ranks.get(&hit.message.message.id).copied().unwrap_or(0.0)),
        id: hit.message.message.id.clone(),
    }))
}

/// SQLite: FTS5 `MATCH` on the caller's owner token and the words, ranked
/// by `bm25()` (the owner column weighs nothing), then `snippet()` for the
/// rows of the page only: computing a snippet is the costly part, and a
/// common word can match thousands of messages.
fn sqlite_matches(
    conn: &mut DbConnection,
    user_id: &str,
    query: &SearchQuery,
    after: Option<(f64, &str)>,
    limit: i64,
) -> Result<Vec<MatchRow>, AppError> {
    #[derive(QueryableByName)]
    struct Ranked {
        #[diesel(sql_type = BigInt)]
        doc: i64,
        #[diesel(sql_type = Text)]
        message_id: String,
        #[diesel(sql_type = Double)]
        score: f64,
    }
    #[derive(QueryableByName)]
    struct Snippet {
        #[diesel(sql_type = Text)]
        snippet: String,
    }
    let (after_rank, after_id) = after.unwrap_or((f64::NEG_INFINITY, ""));
    let matching = query.fts5_for_owner(user_id);
    // SQLite numbers `$n` parameters in the order they first appear in the
    // text, not by `n`: they are written here in that order.
    let ranked: Vec<Ranked> = diesel::sql_query(
        "SELECT r.doc AS doc, d.message_id AS message_id, r.score AS score \
         FROM (SELECT message_search.rowid AS doc, \
                      bm25(message_search, 1.0, 0.0) AS score \
               FROM message_search WHERE message_search MATCH $1 \
               ORDER BY message_search.rowid DESC LIMIT $2) r \
         JOIN message_search_docs d ON d.id = r.doc \
         WHERE d.user_id = $3 \
           AND (r.score > $4 OR (r.score = $4 AND d.message_id > $5)) \
         ORDER BY r.score, d.message_id \
         LIMIT $6",
    )
    .bind::<Text, _>(&matching)
    .bind::<BigInt, _>(RANKED_CANDIDATES)
    .bind::<Text, _>(user_id)
    .bind::<Double, _>(after_rank)
    .bind::<Text, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    ranked
        .into_iter()
        .map(|row| {
            let snippet = diesel::sql_query(
                "SELECT snippet(message_search, 0, $1, $2, $3, $4) AS snippet \
                 FROM message_search WHERE message_search MATCH $5 AND rowid = $6",
            )
            .bind::<Text, _>(OPEN.to_string())
            .bind::<Text, _>(CLOSE.to_string())
            .bind::<Text, _>(ELLIPSIS)
            .bind::<diesel::sql_types::Integer, _>(SNIPPET_TOKENS)
            .bind::<Text, _>(&matching)
            .bind::<BigInt, _>(row.doc)
            .get_result::<Snippet>(conn)
            .optional()?
            .map_or_else(String::new, |s| s.snippet);
            Ok(MatchRow {
                message_id: row.message_id,
                snippet,
                rank: row.score,
            })
        })
        .collect()
}

/// PostgreSQL: the same rows from the expression index of migration
/// `000011` (`to_tsvector('chat_english', content)`, partial on
/// `superseded_by IS NULL`): $1/$2 the markers, $3 [`SearchQuery::plain`],
/// $4 the owner, $5/$6 the cursor, $7 the limit, $8 [`RANKED_CANDIDATES`]. `ts_rank` is higher for
/// better matches, so the rank is its negation. `ts_headline` marks every
/// match of the whole text (its fragments would drop words at their edges
/// and add no ellipsis); [`present_snippet`] cuts it around the first match,
/// as it does SQLite's.
const POSTGRES_MATCHES: &str = "\
    WITH q AS (SELECT plainto_tsquery('chat_english', $3) AS query), \
    ranked AS ( \
        SELECT m.id AS message_id, m.content, \
               -ts_rank(to_tsvector('chat_english', m.content), q.query)::float8 AS rank, \
               q.query \
        FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id, q \
        WHERE to_tsvector('chat_english', m.content) @@ q.query \
          AND m.superseded_by IS NULL AND s.user_id = $4 \
        ORDER BY m.created_at DESC LIMIT $8 \
    ) \
    SELECT message_id, \
           ts_headline('chat_english', content, query, \
               'HighlightAll=true, StartSel=' || $1 || ', StopSel=' || $2) AS snippet, \
           rank \
    FROM ranked \
    WHERE rank > $5 OR (rank = $5 AND message_id > $6) \
    ORDER BY rank, message_id \
    LIMIT $7";

/// PostgreSQL: [`POSTGRES_MATCHES`].
fn postgres_matches(
    conn: &mut DbConnection,
    user_id: &str,
    query: &SearchQuery,
    after: Option<(f64, &str)>,
    limit: i64,
) -> Result<Vec<MatchRow>, AppError> {
    let (after_rank, after_id) = after.unwrap_or((f64::NEG_INFINITY, ""));
    let rows = diesel::sql_query(POSTGRES_MATCHES)
        .bind::<Text, _>(OPEN.to_string())
        .bind::<Text, _>(CLOSE.to_string())
        .bind::<Text, _>(query.plain())
        .bind::<Text, _>(user_id)
        .bind::<Double, _>(after_rank)
        .bind::<Text, _>(after_id)
        .bind::<BigInt, _>(limit)
        .bind::<BigInt, _>(RANKED_CANDIDATES)
        .load(conn)?;
    Ok(rows)
}

/// Maps a rank (an `f64`) to an `i64` with the same order, for the cursor.
fn key_of_rank(rank: f64) -> i64 {
    let bits = rank.to_bits() as i64;
    // Negative floats order backwards as integers: flip all but the sign bit.
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// The inverse of [`key_of_rank`].
fn rank_of_key(key: i64) -> f64 {
    let bits = key ^ ((((key >> 63) as u64) >> 1) as i64);
    f64::from_bits(bits as u64)
}

/// The engine's snippet with « » for its markers, at most
/// [`SNIPPET_MAX_CHARS`] characters, centred on the first match when it has
/// to be cut, with every « closed.
pub fn present_snippet(raw: &str) -> String {
    let text: String = raw
        .chars()
        .map(|c| match c {
            '«' => '‹',
            '»' => '›',
            OPEN => '«',
            CLOSE => '»',
            c => c,
        })
        .collect();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= SNIPPET_MAX_CHARS {
        return text;
    }
    // Room for an ellipsis at each end and a closing marker.
    let budget = SNIPPET_MAX_CHARS - 3;
    let first = chars.iter().position(|&c| c == '«').unwrap_or(0);
    let start = first.saturating_sub(budget / 4);
    let end = (start + budget).min(chars.len());
    let start = end.saturating_sub(budget).min(start);
    let mut out = String::new();
    if start > 0 {
        out.push_str(ELLIPSIS);
    }
    let mut open = false;
    for &c in &chars[start..end] {
        match c {
            '«' => open = true,
            '»' if !open => continue,
            '»' => open = false,
            _ => {}
        }
        out.push(c);
    }
    if open {
        out.push('»');
    }
    if end < chars.len() {
        out.push_str(ELLIPSIS);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_quoted_and_quotes_are_doubled() {
        let q = SearchQuery::parse(Some(r#" a "b" NEAR(c d) e* -f ^g h:i "#)).unwrap();
        assert_eq!(
            q.fts5(),
            r#""a" """b""" "NEAR(c" "d)" "e*" "-f" "^g" "h:i""#
        );
    }

    #[test]
    fn missing_blank_and_long_queries_are_bad_requests() {
        for raw in [None, Some(""), Some("   \t ")] {
            assert!(matches!(
                SearchQuery::parse(raw),
                Err(AppError::BadRequest(_))
            ));
        }
        assert!(SearchQuery::parse(Some(&"é".repeat(200))).is_ok());
        assert!(SearchQuery::parse(Some(&"é".repeat(201))).is_err());
    }

    #[test]
    fn rank_keys_keep_the_order_of_ranks_and_round_trip() {
        let ranks = [-12.5, -3.0, -1e-6, -0.0, 0.0, 1e-9, 2.0, 7.25];
        for pair in ranks.windows(2) {
            assert!(key_of_rank(pair[0]) <= key_of_rank(pair[1]), "{pair:?}");
        }
        for r in ranks {
            assert_eq!(rank_of_key(key_of_rank(r)).to_bits(), r.to_bits());
        }
    }

    #[test]
    fn snippets_use_the_engines_markers_only() {
        let raw = format!("a «quoted» {OPEN}match{CLOSE} b");
        assert_eq!(present_snippet(&raw), "a ‹quoted› «match» b");
    }

    #[test]
    fn long_snippets_are_cut_around_the_first_match_with_markers_closed() {
        let raw = format!(
            "{} {OPEN}needle{CLOSE} {}",
            "x".repeat(400),
            "y".repeat(400)
        );
        let s = present_snippet(&raw);
        assert!(
            s.chars().count() <= SNIPPET_MAX_CHARS,
            "{}",
            s.chars().count()
        );
        assert!(s.contains("«needle»"));
        let cut = format!("{OPEN}{}{CLOSE}", "n".repeat(500));
        let s = present_snippet(&cut);
        assert!(s.chars().count() <= SNIPPET_MAX_CHARS);
        assert_eq!(s.matches('«').count(), s.matches('»').count());
    }

    /// Search speed over 100,000 stored messages, two ways: spread over 100
    /// users, and all owned by the one who searches (the worst case: every
    /// match is theirs). Not a test of correctness; run it by hand:
    /// `cargo test --lib search_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a benchmark: run by hand"]
    fn search_speed_over_100k_messages() {
        for owners in [100, 1] {
            let (p50, p99, per_query) = measure(100_000, owners);
            println!(
                "100,000 messages, {owners} owner(s): p50 {p50:.2} ms, p99 {p99:.2} ms; {per_query}"
            );
        }
    }

    fn measure(messages: usize, owners: usize) -> (f64, f64, String) {
        use crate::db::Database;
        use diesel::connection::SimpleConnection;
        use std::time::Instant;

        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&dir.path().join("bench.db").display().to_string(), 2).unwrap();
        db.migrate().unwrap();
        let mut conn = db.get().unwrap();
        // A vocabulary with a few very common words and a long tail, so
        // queries range from thousands of matches to a handful.
        let common = [
            "money", "invest", "saving", "budget", "account", "fund", "rate",
        ];
        let tail: Vec<String> = (0..5_000).map(|i| format!("w{i}x")).collect();
        let mut seed = 42u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        conn.batch_execute("BEGIN").unwrap();
        for u in 0..owners {
            diesel::sql_query(
                "INSERT INTO users (id, email, name, password_hash, is_admin, is_active, created_at) \
                 VALUES ($1, $1, 'u', 'x', FALSE, TRUE, 0)",
            )
            .bind::<Text, _>(format!("00000000-0000-7000-8000-{u:012}"))
            .execute(&mut *conn)
            .unwrap();
        }
        let per_session = 100;
        for n in 0..messages {
            let session = n / per_session;
            let owner = session % owners;
            if n % per_session == 0 {
                diesel::sql_query(
                    "INSERT INTO chat_sessions (id, user_id, title, message_count, created_at, updated_at) \
                     VALUES ($1, $2, 'bench', 0, 0, 0)",
                )
                .bind::<Text, _>(format!("00000000-0000-7000-9000-{session:012}"))
                .bind::<Text, _>(format!("00000000-0000-7000-8000-{owner:012}"))
                .execute(&mut *conn)
                .unwrap();
            }
            let words = 20 + (next() % 60) as usize;
            let text: Vec<&str> = (0..words)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        common[(r / 4 % common.len() as u64) as usize]
                    } else {
                        // Skewed towards the start of the tail.
                        let i = ((r % 5_000) * (r / 7 % 5_000) / 5_000) as usize;
                        tail[i].as_str()
                    }
                })
                .collect();
            diesel::sql_query(
                "INSERT INTO chat_messages (id, session_id, role, content, fallback, created_at) \
                 VALUES ($1, $2, 'user', $3, FALSE, $4)",
            )
            .bind::<Text, _>(format!("00000000-0000-7000-a000-{n:012}"))
            .bind::<Text, _>(format!("00000000-0000-7000-9000-{session:012}"))
            .bind::<Text, _>(text.join(" "))
            .bind::<BigInt, _>(n as i64)
            .execute(&mut *conn)
            .unwrap();
        }
        crate::db::search_index::apply_pending(&mut conn).unwrap();
        conn.batch_execute("COMMIT").unwrap();

        let user = "00000000-0000-7000-8000-000000000000";
        let queries = [
            "money",
            "invest budget",
            "w10x",
            "w4000x",
            "w3x fund",
            "nothing",
        ];
        let page = PageRequest::new(Some(20), None).unwrap();
        let mut all = Vec::new();
        let mut per_query = Vec::new();
        for q in queries {
            let query = SearchQuery::parse(Some(q)).unwrap();
            let mut times = Vec::new();
            for _ in 0..50 {
                let start = Instant::now();
                let hits = search(&mut conn, user, &query, &page).unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                std::hint::black_box(hits);
            }
            times.sort_by(f64::total_cmp);
            per_query.push(format!("{q:?} p50 {:.2} ms", times[times.len() / 2]));
            all.extend(times);
        }
        all.sort_by(f64::total_cmp);
        let at = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
        (at(0.5), at(0.99), per_query.join(", "))
    }
}
