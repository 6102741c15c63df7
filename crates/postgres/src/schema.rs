//! Hand-written diesel schema, matching `migrations/` column for column.

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        totp_enabled -> Bool,
        created_at -> Timestamptz,
        totp_secret -> Nullable<Text>,
        totp_last_step -> Nullable<Int8>,
    }
}

diesel::table! {
    accounts (id) {
        id -> Uuid,
        user_id -> Uuid,
        currency -> Text,
        cash -> Numeric,
        held -> Numeric,
        status -> Text,
        created_at -> Timestamptz,
        event_seq -> Int8,
    }
}

diesel::table! {
    orders (id) {
        id -> Uuid,
        account_id -> Uuid,
        client_order_id -> Nullable<Text>,
        symbol -> Text,
        side -> Text,
        order_type -> Text,
        time_in_force -> Text,
        qty -> Numeric,
        notional -> Nullable<Numeric>,
        limit_price -> Nullable<Numeric>,
        stop_price -> Nullable<Numeric>,
        trail_percent -> Nullable<Numeric>,
        status -> Text,
        filled_qty -> Numeric,
        filled_avg_price -> Nullable<Numeric>,
        held_cash -> Numeric,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        submitted_at -> Timestamptz,
        filled_at -> Nullable<Timestamptz>,
        canceled_at -> Nullable<Timestamptz>,
        expired_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
        replaces -> Nullable<Uuid>,
        hwm -> Nullable<Numeric>,
        triggered_at -> Nullable<Timestamptz>,
        fill_seq -> Int4,
    }
}

diesel::table! {
    positions (account_id, symbol) {
        account_id -> Uuid,
        symbol -> Text,
        qty -> Numeric,
        held -> Numeric,
        cost_basis -> Numeric,
        updated_at -> Timestamptz,
        lot_qty -> Array<Numeric>,
        lot_cost -> Array<Numeric>,
    }
}

diesel::table! {
    activities (id) {
        id -> Uuid,
        account_id -> Uuid,
        kind -> Text,
        amount -> Numeric,
        order_id -> Nullable<Uuid>,
        symbol -> Nullable<Text>,
        side -> Nullable<Text>,
        qty -> Nullable<Numeric>,
        price -> Nullable<Numeric>,
        created_at -> Timestamptz,
        realized_pl -> Nullable<Numeric>,
    }
}

diesel::table! {
    fills (order_id, seq) {
        order_id -> Uuid,
        seq -> Int4,
        account_id -> Uuid,
        qty -> Numeric,
        price -> Numeric,
        activity_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    journal_postings (activity_id, leg) {
        activity_id -> Uuid,
        leg -> Int2,
        book -> Text,
        account_id -> Nullable<Uuid>,
        asset -> Text,
        amount -> Numeric,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    trade_events (account_id, seq) {
        account_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        order_id -> Uuid,
        status -> Text,
        filled_qty -> Numeric,
        filled_avg_price -> Nullable<Numeric>,
        held_cash -> Numeric,
        stop_price -> Nullable<Numeric>,
        hwm -> Nullable<Numeric>,
        triggered_at -> Nullable<Timestamptz>,
        fill_seq -> Int4,
        filled_at -> Nullable<Timestamptz>,
        canceled_at -> Nullable<Timestamptz>,
        expired_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
        fill_qty -> Nullable<Numeric>,
        fill_price -> Nullable<Numeric>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    funding_events (event_id) {
        event_id -> Text,
        account_id -> Uuid,
        activity_id -> Uuid,
        amount -> Numeric,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(accounts -> users (user_id));
diesel::joinable!(orders -> accounts (account_id));
diesel::joinable!(positions -> accounts (account_id));
diesel::joinable!(activities -> accounts (account_id));
diesel::joinable!(activities -> orders (order_id));

diesel::joinable!(trade_events -> orders (order_id));
diesel::joinable!(fills -> orders (order_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    accounts,
    orders,
    positions,
    activities,
    fills,
    journal_postings,
    trade_events,
    funding_events
);

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        account_id -> Uuid,
        name -> Text,
        key_id -> Text,
        sealed_secret -> Text,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        account_id -> Uuid,
        url -> Text,
        events -> Array<Text>,
        sealed_secret -> Text,
        event_cursor -> Int8,
        cursor_moved_at -> Timestamptz,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        account_id -> Uuid,
        endpoint_id -> Uuid,
        event_seq -> Int8,
        event -> Text,
        body -> Text,
        attempt -> Int4,
        status -> Text,
        response_status -> Nullable<Int4>,
        error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}
