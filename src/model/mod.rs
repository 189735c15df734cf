//! The domain model: entries, the pages rendered from them and the images
//! they show. Owned by no layer: the store persists it, content types
//! validate and query it, the renderer turns it into pages and the
//! publisher decides what to render. It never touches a database, a template or the network.

mod content_type;
mod entry;
mod media;
mod page;
mod shown;
mod site;

pub use content_type::*;
pub use entry::*;
pub use media::*;
pub use page::*;
pub use shown::*;
pub use site::*;
