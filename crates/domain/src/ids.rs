//! Identifiers: UUID v7 (time-ordered), one newtype per entity so they cannot be mixed up.

use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A registered person or program owner.
    UserId
);
id_type!(
    /// A cash account; every user has exactly one.
    AccountId
);
id_type!(
    /// An order.
    OrderId
);
id_type!(
    /// An entry of the account activity ledger.
    ActivityId
);
id_type!(
    /// A login session: one refresh-token family and the access tokens issued from it.
    SessionId
);
id_type!(
    /// An API key (the record; its public `key_id` is a separate random string).
    ApiKeyId
);
id_type!(
    /// A registered webhook endpoint.
    WebhookId
);
id_type!(
    /// One event to be delivered to one endpoint (its attempts share the id).
    DeliveryId
);
