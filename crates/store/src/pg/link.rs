//! One connection to the database that is opened again after any failure of the driver: the
//! journal's, its snapshot writer's and the lease table's.

use postgres::{Client, NoTls};

use crate::StoreError;

/// A connection, with what `prepare` made on it (the journal's prepared statements), opened on
/// first use and again after any error the driver reported: a restarted database shows as an
/// administrator's shutdown, then as a reset, and the next call starts afresh.
pub(crate) struct Link<S> {
    url: String,
    open: Option<(Client, S)>,
    prepare: fn(&mut Client) -> Result<S, StoreError>,
}

impl<S> Link<S> {
    /// Connects now, so that a wrong URL is said at start.
    pub(crate) fn connect(
        url: &str,
        prepare: fn(&mut Client) -> Result<S, StoreError>,
    ) -> Result<Link<S>, StoreError> {
        let mut link = Link {
            url: url.to_owned(),
            open: None,
            prepare,
        };
        link.with(|_, _| Ok(()))?;
        Ok(link)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Runs `call` on the connection, opening it first if it is not open (or was closed).
    pub(crate) fn with<T>(
        &mut self,
        call: impl FnOnce(&mut Client, &S) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self
            .open
            .as_ref()
            .is_some_and(|(client, _)| client.is_closed())
        {
            self.open = None;
        }
        let (client, prepared) = match &mut self.open {
            Some(open) => open,
            None => {
                let mut client = Client::connect(&self.url, NoTls)?;
                let prepared = (self.prepare)(&mut client)?;
                self.open.insert((client, prepared))
            }
        };
        let result = call(client, prepared);
        if matches!(result, Err(StoreError::Postgres(_))) {
            self.open = None;
        }
        result
    }
}
