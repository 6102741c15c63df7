use crate::state::MemoryStore;
use async_trait::async_trait;
use brokerage_domain::accounts::Account;
use brokerage_domain::users::{CreateUserError, Credentials, Email, PasswordHash, User, UserChanges, UserStore};
use brokerage_domain::{InfraError, Page, PageRequest, UserId};

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

    async fn update(&self, id: UserId, changes: &UserChanges) -> Result<Option<User>, InfraError> {
        let mut s = self.lock()?;
        Ok(s.users.get_mut(&id).map(|(u, _)| {
            u.role = changes.role.unwrap_or(u.role);
            u.status = changes.status.unwrap_or(u.status);
            u.clone()
        }))
    }

    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, InfraError> {
        let mut s = self.lock()?;
        Ok(s.users.get_mut(&id).map(|(_, h)| *h = hash.clone()).is_some())
    }

    async fn list(&self, page: &PageRequest<UserId>) -> Result<Page<User, UserId>, InfraError> {
        let s = self.lock()?;
        let mut users: Vec<&User> =
            s.users.values().map(|(u, _)| u).filter(|u| page.after.is_none_or(|after| u.id > after)).collect();
        users.sort_by_key(|u| u.id);
        let items = users.into_iter().take(page.fetch_limit()).cloned().collect();
        Ok(page.into_page(items, |u| u.id))
    }
}
