//! Mistakes operators make, from running trent the way README and docs/OPERATIONS.md say
//! (issue 19): each is refused clearly, with no split, no merge, no lost write and no change
//! of state. Subnets 193 (wiped_node), 241-246 (impostor, foreign_data_dir, domain_key).

mod domain_key;
mod foreign_data_dir;
mod impostor;
mod wiped_node;
