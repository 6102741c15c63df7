use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::users::{CreateUserError, Credentials, Email, PasswordHash, Role, User, UserStore};
use brokerage_domain::{InfraError, UserId};

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_with_account(
        &self,
        user: &User,
        hash: &PasswordHash,
        account: &Account,
    ) -> Result<(), CreateUserError> {
        let mut s = self.lock()?;
        if s.user_by_email.contains_key(user.email.as_str()) {
            return Err(CreateUserError::EmailTaken);
        }
        s.user_by_email.insert(user.email.as_str().to_owned(), user.id);
        s.users.insert(user.id, (user.clone(), hash.clone()));
        s.account_by_user.insert(user.id, account.id);
        s.accounts.insert(account.id, account.clone());
        Ok(())
    }

    async fn credentials_by_email(&self, email: &Email) -> Result<Option<Credentials>, InfraError> {
        let s = self.lock()?;
        let Some(id) = s.user_by_email.get(email.as_str()) else { return Ok(None) };
        let found = s.users.get(id).zip(s.account_by_user.get(id));
        Ok(found.map(|((user, hash), account)| Credentials {
            user: user.clone(),
            password_hash: hash.clone(),
            account_id: *account,
        }))
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, InfraError> {
        Ok(self.lock()?.users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, InfraError> {
        let mut s = self.lock()?;
        Ok(s.users.get_mut(&id).map(|(u, _)| {
            u.role = role;
            u.clone()
        }))
    }
}
