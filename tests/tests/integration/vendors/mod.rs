//! The vendor clients against the vendor simulator over real HTTP: every endpoint, the
//! classification of every documented error, callbacks (verification, retries, drops), the
//! simulator's task clocks and its quota.

mod baijiayun;
mod callbacks;
mod plaso;
mod quota;
mod weclassroom;
