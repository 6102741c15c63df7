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
    }
}

diesel::joinable!(accounts -> users (user_id));
diesel::joinable!(orders -> accounts (account_id));
diesel::joinable!(positions -> accounts (account_id));
diesel::joinable!(activities -> accounts (account_id));
diesel::joinable!(activities -> orders (order_id));

diesel::allow_tables_to_appear_in_same_query!(users, accounts, orders, positions, activities);

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
