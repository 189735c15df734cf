//! The domain model: entries and the pages rendered from them. Owned by
//! no layer: the store persists it, content types validate and query it,
//! the renderer turns it into pages and the publisher decides what to
//! render. It never touches a database, a template or the network.

mod content_type;
mod entry;
mod page;
mod shown;
mod site;

pub use content_type::*;
pub use entry::*;
pub use page::*;
pub use shown::*;
pub use site::*;
