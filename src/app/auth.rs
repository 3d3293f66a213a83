//! Who is calling: the application layer's view of API tokens, so the HTTP layer never touches
//! the store to authenticate a request.

use super::{App, AppError};
use crate::model::Principal;
use crate::store;

impl App {
    /// The principal of a live (not revoked) token with this secret; `None` for an unknown or
    /// revoked token.
    pub async fn principal_from_token(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        Ok(store::tokens::token_verify(&self.pool, secret).await?)
    }
}
