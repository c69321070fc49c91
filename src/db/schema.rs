// @generated automatically by Diesel CLI.

diesel::table! {
    chat_messages (id) {
        id -> Text,
        session_id -> Text,
        role -> Text,
        content -> Text,
        model -> Nullable<Text>,
        confidence -> Nullable<Double>,
        prompt_tokens -> Nullable<BigInt>,
        completion_tokens -> Nullable<BigInt>,
        latency_ms -> Nullable<BigInt>,
        fallback -> Bool,
        created_at -> BigInt,
        status -> Text,
        superseded_by -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    chat_sessions (id) {
        id -> Text,
        user_id -> Text,
        title -> Nullable<Text>,
        message_count -> BigInt,
        last_message_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Nullable<Text>,
        user_message_id -> Nullable<Text>,
        reply_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        owner -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    message_feedback (message_id) {
        message_id -> Text,
        rating -> Text,
        comment -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    message_sources (id) {
        id -> Text,
        message_id -> Text,
        position -> Integer,
        title -> Text,
        url -> Text,
        snippet -> Text,
    }
}

diesel::table! {
    rate_limits (key) {
        key -> Text,
        window_start -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (name) {
        name -> Text,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    token_usage (user_id, day) {
        user_id -> Text,
        day -> Text,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        is_active -> Bool,
        created_at -> BigInt,
    }
}

diesel::joinable!(chat_messages -> chat_sessions (session_id));
diesel::joinable!(chat_sessions -> users (user_id));
diesel::joinable!(idempotency_keys -> users (user_id));
diesel::joinable!(message_feedback -> chat_messages (message_id));
diesel::joinable!(message_sources -> chat_messages (message_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(token_usage -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    chat_messages,
    chat_sessions,
    idempotency_keys,
    leases,
    message_feedback,
    message_sources,
    rate_limits,
    refresh_tokens,
    signing_keys,
    token_usage,
    users,
);
