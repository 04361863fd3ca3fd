//! plane: config, control protocol and wiring shared by `planed`, `planectl`,
//! `plane-cni` and `planelab`.
