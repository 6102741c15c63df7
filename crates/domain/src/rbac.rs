//! Role-based access control: one table of what each role may do, and the ownership rule.
//! Pure functions; the HTTP layer asks them before every use case runs.

use crate::ids::{AccountId, UserId};
use crate::users::Role;

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read one's own profile, account, orders, positions and activities.
    ReadOwn,
    /// Place, replace and cancel orders on one's own account.
    Trade,
    /// Deposit to and withdraw from one's own account.
    MoveFunds,
    /// Read every customer's users, accounts and orders (support and admin).
    ReadAll,
    /// Change users' roles and statuses, halt symbols.
    Administer,
}

/// The single table of who may do what.
pub const fn permissions_of(role: Role) -> &'static [Permission] {
    use Permission::*;
    match role {
        Role::Customer => &[ReadOwn, Trade, MoveFunds],
        Role::Support => &[ReadOwn, ReadAll],
        Role::Admin => &[ReadOwn, Trade, MoveFunds, ReadAll, Administer],
    }
}

/// The authenticated caller of a use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub role: Role,
}

/// The caller lacks a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the caller's role does not allow this")]
pub struct Forbidden;

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        permissions_of(self.role).contains(&permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.can(permission) { Ok(()) } else { Err(Forbidden) }
    }

    /// Ownership rule for reads: one's own account, or any account with `ReadAll`.
    /// A caller who may not see a resource must be told it does not exist (404), so this
    /// answers a bool and the caller turns `false` into `NotFound`.
    pub fn may_read(&self, owner: AccountId) -> bool {
        self.account_id == owner || self.can(Permission::ReadAll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn principal(role: Role) -> Principal {
        Principal { user_id: UserId::from_uuid(Uuid::now_v7()), account_id: AccountId::from_uuid(Uuid::now_v7()), role }
    }

    #[test]
    fn customers_trade_and_move_funds_but_cannot_read_others() {
        let p = principal(Role::Customer);
        assert!(p.can(Permission::Trade) && p.can(Permission::MoveFunds));
        assert!(!p.can(Permission::ReadAll) && !p.can(Permission::Administer));
        assert!(p.may_read(p.account_id));
        assert!(!p.may_read(AccountId::from_uuid(Uuid::now_v7())));
    }

    #[test]
    fn support_reads_everything_and_changes_nothing() {
        let p = principal(Role::Support);
        assert!(p.may_read(AccountId::from_uuid(Uuid::now_v7())));
        assert_eq!(p.require(Permission::Trade), Err(Forbidden));
        assert_eq!(p.require(Permission::MoveFunds), Err(Forbidden));
        assert_eq!(p.require(Permission::Administer), Err(Forbidden));
    }

    #[test]
    fn admin_may_do_everything() {
        let p = principal(Role::Admin);
        for perm in
            [Permission::ReadOwn, Permission::Trade, Permission::MoveFunds, Permission::ReadAll, Permission::Administer]
        {
            assert!(p.can(perm), "{perm:?}");
        }
    }
}
