//! Query parameters and auth tokens computed again for every connection
//! attempt (token refresh), as the original library's `{:connect, url,
//! params}` and the official client's `params`/`authToken` functions allow.

use std::fmt;
use std::sync::Arc;

use phoenix_proto::client::{ConnectRequest, Secret, Socket};

/// Produces query parameters for the next connection attempt.
pub type ParamsFn = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;
/// Produces the auth token for the next connection attempt.
pub type TokenFn = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The optional providers; without them the configured values are used as they are.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    pub(crate) params: Option<ParamsFn>,
    pub(crate) token: Option<TokenFn>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("params_fn", &self.params.is_some())
            .field("token_fn", &self.token.is_some())
            .finish()
    }
}

impl Credentials {
    /// Calls the providers, stores their answers in the core, and returns
    /// the request rebuilt with them (or `request` when there are none).
    pub(crate) fn refresh(&self, core: &mut Socket, request: ConnectRequest) -> ConnectRequest {
        if self.params.is_none() && self.token.is_none() {
            return request;
        }
        if let Some(params) = &self.params {
            let params = params()
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect();
            core.set_params(params);
        }
        if let Some(token) = &self.token {
            core.set_auth_token(token().map(Secret::new));
        }
        core.connect_request()
    }
}
