//! How the processes of a run share its work: one process (the default), or W ranks under MPI
//! (`--features mpi`, started by `mpirun` or `srun`; docs/distributed.md).
//!
//! A run on W ranks with global batch B takes the same steps as one process with batch B:
//!
//! - **Data.** Each global batch is cut into W equal slices; rank r prepares slice r: its
//!   anchors, their hard images and all their hard captions. Every draw is seeded per sample
//!   (`batches.rs`), so a slice holds what one process would put in those places.
//! - **Loss.** Every rank embeds its slice, all-gathers everyone's embeddings and computes
//!   the loss of the whole global batch, its own rows live (in its graph) and the other ranks'
//!   rows constants. The loss does not depend on the order of the images (with their
//!   captions) nor of the hard captions, so it is the single-process loss.
//! - **Gradients.** The loss reaches the tower weights θ only through the embeddings E_r of
//!   the W slices: ∂L/∂θ = Σ_r (∂L/∂E_r)(∂E_r/∂θ). Rank r's backward pass yields exactly its
//!   term, so the sum over ranks (an all-reduce) is the single-process gradient; not the mean,
//!   since every rank's loss is already the mean over the global batch. The logit scale
//!   reaches the loss directly: every rank computes its whole gradient, the same value on
//!   each, so it is left out of the sum, which would multiply it by W.
//! - **Update.** AdamW takes the same step from the same gradients on every rank. Rank 0's
//!   weights are broadcast at the start and compared (a checksum) every
//!   `distributed.check_every_steps`.
//!
//! Every collective has a deadline (`distributed.timeout_s`): a rank that hangs is named by
//! rank 0, which then ends the run on every rank; a rank that dies is named by the launcher,
//! which then stops the others.

use std::rc::Rc;
use std::time::Duration;

#[cfg(any(test, feature = "mpi"))]
use burn::module::{Module, ModuleVisitor, Param};
#[cfg(feature = "mpi")]
use burn::module::{ModuleMapper, ParamId};
use burn::optim::GradientsParams;
#[cfg(feature = "mpi")]
use burn::tensor::TensorData;
use burn::tensor::{Device, Tensor};
use negclip_model::Clip;

use crate::config::DistributedSection;
use crate::error::TrainError;

#[cfg(feature = "mpi")]
mod mpi;

/// A handle on the processes of a run; cheap to clone.
#[derive(Clone)]
pub struct Engine(Rc<Processes>);

enum Processes {
    /// One process: every collective is the identity.
    Single,
    #[cfg(feature = "mpi")]
    Mpi(mpi::MpiEngine),
}

/// How an MPI launcher started this process, as its environment says.
#[derive(Debug, PartialEq)]
struct Launch {
    /// The variable that gave it away.
    variable: &'static str,
    /// How many ranks the launcher started, where its variables say so.
    size: Option<usize>,
}

impl Launch {
    /// What the launchers really set for each rank (docs/distributed.md):
    /// - `mpirun` (Open MPI): `OMPI_COMM_WORLD_SIZE`;
    /// - Hydra (MPICH, Intel MPI): `PMI_SIZE`;
    /// - PMIx (`srun --mpi=pmix`, Open MPI 5's `prterun`): `PMIX_RANK`, and the size only
    ///   sometimes: Slurm 22.05 sets neither `PMIX_SIZE` nor `PMI_SIZE`, only its own
    ///   `SLURM_STEP_NUM_TASKS` (and `SLURM_NTASKS`).
    ///
    /// `None` when no launcher started this process.
    fn detect(var: impl Fn(&str) -> Option<String>) -> Option<Launch> {
        let size = |name: &str| var(name)?.trim().parse::<usize>().ok();
        let found = |variable: &'static str, size: Option<usize>| Some(Launch { variable, size });
        if var("OMPI_COMM_WORLD_SIZE").is_some() {
            return found("OMPI_COMM_WORLD_SIZE", size("OMPI_COMM_WORLD_SIZE"));
        }
        if var("PMI_SIZE").is_some() {
            return found("PMI_SIZE", size("PMI_SIZE"));
        }
        if var("PMIX_RANK").is_some() {
            let from = ["PMIX_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"];
            return found("PMIX_RANK", from.iter().find_map(|name| size(name)));
        }
        None
    }
}

// Without the `mpi` feature only the one-process arms exist, and they ignore their inputs.
#[cfg_attr(not(feature = "mpi"), allow(unused_variables))]
impl Engine {
    /// One process, no MPI.
    pub fn single() -> Engine {
        Engine(Rc::new(Processes::Single))
    }

    /// MPI when an MPI launcher started this process (`mpirun`, `srun`), else one process.
    /// A launched rank of a build without the `mpi` feature is refused: its ranks would each
    /// train alone and overwrite each other's files.
    pub fn from_environment(settings: &DistributedSection) -> Result<Engine, TrainError> {
        Engine::for_launch(Launch::detect(|name| std::env::var(name).ok()), settings)
    }

    fn for_launch(
        launch: Option<Launch>,
        settings: &DistributedSection,
    ) -> Result<Engine, TrainError> {
        let Some(launch) = launch else {
            return Ok(Engine::single());
        };
        // With MPI built in, MPI itself says how many ranks there are (MPI_COMM_WORLD).
        if cfg!(feature = "mpi") {
            return Engine::mpi(settings);
        }
        match launch.size {
            Some(1) => Ok(Engine::single()),
            Some(size) => Err(distributed(format!(
                "started as one of {size} ranks ({}), but this negclip was built without the \
                 `mpi` feature: build it with `--features mpi` (docs/distributed.md)",
                launch.variable
            ))),
            None => Err(distributed(format!(
                "started by an MPI launcher ({} is set), but this negclip was built without \
                 the `mpi` feature: build it with `--features mpi` (docs/distributed.md)",
                launch.variable
            ))),
        }
    }

    #[cfg(feature = "mpi")]
    fn mpi(settings: &DistributedSection) -> Result<Engine, TrainError> {
        Ok(Engine(Rc::new(Processes::Mpi(mpi::MpiEngine::start(
            settings,
        )?))))
    }

    #[cfg(not(feature = "mpi"))]
    fn mpi(_: &DistributedSection) -> Result<Engine, TrainError> {
        unreachable!("only called in builds with the mpi feature")
    }

    /// This process's rank, 0..world.
    pub fn rank(&self) -> usize {
        match &*self.0 {
            Processes::Single => 0,
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.rank,
        }
    }

    /// How many ranks the run has.
    pub fn world(&self) -> usize {
        match &*self.0 {
            Processes::Single => 1,
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.size,
        }
    }

    /// The rank among those on this machine: which of its GPUs to take.
    pub fn local_rank(&self) -> usize {
        match &*self.0 {
            Processes::Single => 0,
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.local_rank,
        }
    }

    /// Whether this process writes the run's files and shows its progress (rank 0).
    pub fn is_writer(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's share of `items` things split into contiguous, near-equal parts in rank
    /// order (the first `items % world` ranks take one more).
    pub fn share(&self, items: usize) -> std::ops::Range<usize> {
        share(items, self.rank(), self.world())
    }

    /// The rows of every rank's `local` (R_r × D each), in rank order, with this rank's own
    /// rows the live tensor (gradients flow into it) and the others' constants. `None`
    /// stands for a rank with no rows; the result is `None` when no rank has any.
    pub fn gather_rows(
        &self,
        local: Option<Tensor<2>>,
        width: usize,
        device: &Device,
    ) -> Result<Option<Tensor<2>>, TrainError> {
        match &*self.0 {
            Processes::Single => Ok(local),
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => {
                let values = local.as_ref().map(|t| host(t.clone())).unwrap_or_default();
                let (before, after) = mpi.gather_around(&values)?;
                let constant = |values: Vec<f32>| {
                    let rows = values.len() / width;
                    (rows > 0).then(|| {
                        Tensor::<2>::from_data(TensorData::new(values, [rows, width]), device)
                    })
                };
                let parts: Vec<Tensor<2>> = [constant(before), local, constant(after)]
                    .into_iter()
                    .flatten()
                    .collect();
                Ok((!parts.is_empty()).then(|| Tensor::cat(parts, 0)))
            }
        }
    }

    /// Every rank's `rows` (vectors of one length), in rank order: how sharded evaluation
    /// puts its embeddings back together.
    pub fn gather_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError> {
        match &*self.0 {
            Processes::Single => Ok(rows),
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.gather_vectors(rows),
        }
    }

    /// Sum every parameter's gradient over the ranks, except the logit scale's (see the
    /// module documentation).
    pub fn reduce_gradients(
        &self,
        model: &Clip,
        grads: &mut GradientsParams,
    ) -> Result<(), TrainError> {
        match &*self.0 {
            Processes::Single => Ok(()),
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => {
                let skip = model.logit_scale.id;
                let mut flat = FlatGradients {
                    grads,
                    skip,
                    values: Vec::new(),
                };
                model.visit(&mut flat);
                let summed = mpi.sum(flat.values);
                let mut back = UnflattenGradients {
                    grads,
                    skip,
                    values: &summed,
                    at: 0,
                };
                model.visit(&mut back);
                Ok(())
            }
        }
    }

    /// Rank 0's weights on every rank.
    pub fn broadcast_model(&self, model: Clip) -> Result<Clip, TrainError> {
        match &*self.0 {
            Processes::Single => Ok(model),
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => {
                let values = mpi.broadcast(parameters(&model))?;
                Ok(model.map(&mut SetParameters {
                    values: &values,
                    at: 0,
                }))
            }
        }
    }

    /// Fail, naming the ranks, if any rank's weights differ from rank 0's.
    pub fn check_replicas(&self, model: &Clip, step: u64) -> Result<(), TrainError> {
        match &*self.0 {
            Processes::Single => Ok(()),
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.check_replicas(checksum(&parameters(model)), step),
        }
    }

    /// Time this process has spent in collectives (waiting for the others included).
    pub fn communication_time(&self) -> Duration {
        match &*self.0 {
            Processes::Single => Duration::ZERO,
            #[cfg(feature = "mpi")]
            Processes::Mpi(mpi) => mpi.spent.get(),
        }
    }

    /// `result`, or, on an error in a run of several ranks, the error printed as this rank's
    /// and every rank ended: the others may be waiting for this one in a collective that will
    /// never complete. One process returns its error as usual.
    pub fn stop_all_on_error<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        match (&*self.0, result) {
            #[cfg(feature = "mpi")]
            (Processes::Mpi(mpi), Err(error)) if mpi.size > 1 => mpi.fail(&format!("{error:#}")),
            (_, result) => result,
        }
    }
}

/// Rank `rank`'s part of `items` split over `world` ranks: contiguous, near-equal, in rank
/// order, the first `items % world` ranks taking one more.
fn share(items: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
    let (base, extra) = (items / world, items % world);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// The values of a tensor on the host, as f32.
#[cfg(any(test, feature = "mpi"))]
fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor")
}

/// Every parameter's values in visiting order, flattened.
#[cfg(any(test, feature = "mpi"))]
pub(crate) fn parameters(model: &Clip) -> Vec<f32> {
    struct Flatten(Vec<f32>);
    impl ModuleVisitor for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(host(param.val()));
        }
    }
    let mut flat = Flatten(Vec::new());
    model.visit(&mut flat);
    flat.0
}

#[cfg(any(test, feature = "mpi"))]
/// A cheap order-sensitive checksum of the weights' bits (FNV-1a over 32-bit words).
fn checksum(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |hash, value| {
        (hash ^ u64::from(value.to_bits())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Parameters set from a flat buffer in visiting order (what [`parameters`] wrote).
#[cfg(feature = "mpi")]
struct SetParameters<'a> {
    values: &'a [f32],
    at: usize,
}

#[cfg(feature = "mpi")]
impl ModuleMapper for SetParameters<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (values, at) = (self.values, &mut self.at);
        param.map(|tensor| {
            let shape = tensor.shape();
            let n = shape.num_elements();
            let data = TensorData::new(values[*at..*at + n].to_vec(), shape);
            *at += n;
            let require_grad = tensor.is_require_grad();
            let fresh = Tensor::from_data(data, &tensor.device());
            if require_grad {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}

/// Gradients (but `skip`'s) flattened in visiting order.
#[cfg(feature = "mpi")]
struct FlatGradients<'a> {
    grads: &'a GradientsParams,
    skip: ParamId,
    values: Vec<f32>,
}

#[cfg(feature = "mpi")]
impl ModuleVisitor for FlatGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.id == self.skip {
            return;
        }
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.values.extend(host(grad));
        }
    }
}

/// Gradients replaced from a flat buffer laid out as [`FlatGradients`] wrote it.
#[cfg(feature = "mpi")]
struct UnflattenGradients<'a> {
    grads: &'a mut GradientsParams,
    skip: ParamId,
    values: &'a [f32],
    at: usize,
}

#[cfg(feature = "mpi")]
impl ModuleVisitor for UnflattenGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.id == self.skip {
            return;
        }
        let Some(grad) = self.grads.remove::<D>(param.id) else {
            return;
        };
        let shape = grad.shape();
        let n = shape.num_elements();
        let data = TensorData::new(self.values[self.at..self.at + n].to_vec(), shape);
        self.at += n;
        self.grads
            .register(param.id, Tensor::<D>::from_data(data, &grad.device()));
    }
}

pub(crate) fn distributed(message: String) -> TrainError {
    TrainError::Distributed { message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_launcher_is_recognised_by_what_it_really_sets() {
        let detect = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Launch::detect(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let launch = |variable, size| Some(Launch { variable, size });
        // Open MPI's mpirun.
        let mpirun = [
            ("OMPI_COMM_WORLD_SIZE", "2"),
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
            ("PMIX_RANK", "1"),
        ];
        assert_eq!(detect(&mpirun), launch("OMPI_COMM_WORLD_SIZE", Some(2)));
        // Slurm 22.05's `srun --mpi=pmix`: no PMIX_SIZE, no PMI_SIZE.
        let srun = [
            ("PMIX_RANK", "1"),
            ("PMIX_NAMESPACE", "slurm.pmix.7.0"),
            ("SLURM_STEP_NUM_TASKS", "2"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_PROCID", "1"),
        ];
        assert_eq!(detect(&srun), launch("PMIX_RANK", Some(2)));
        assert_eq!(
            detect(&[("PMIX_RANK", "0"), ("PMIX_SIZE", "4")]),
            launch("PMIX_RANK", Some(4))
        );
        assert_eq!(detect(&[("PMIX_RANK", "0")]), launch("PMIX_RANK", None));
        // Hydra (MPICH, Intel MPI).
        let hydra = [("PMI_SIZE", "3"), ("PMI_RANK", "0")];
        assert_eq!(detect(&hydra), launch("PMI_SIZE", Some(3)));
        // None: a plain process, even inside a Slurm allocation (sbatch's own shell).
        assert_eq!(detect(&[]), None);
        assert_eq!(
            detect(&[("SLURM_NTASKS", "2"), ("SLURM_JOB_ID", "7")]),
            None
        );
    }

    #[cfg(not(feature = "mpi"))]
    #[test]
    fn a_launched_rank_of_a_build_without_mpi_is_refused_naming_the_variable() {
        let settings = DistributedSection::default();
        let start = |variable, size| Engine::for_launch(Some(Launch { variable, size }), &settings);
        for (variable, size) in [
            ("PMIX_RANK", Some(2)),
            ("PMIX_RANK", None),
            ("PMI_SIZE", Some(4)),
        ] {
            let error = start(variable, size).err().expect("refused").to_string();
            assert!(error.contains(variable), "{error}");
            assert!(error.contains("--features mpi"), "{error}");
        }
        assert_eq!(start("OMPI_COMM_WORLD_SIZE", Some(1)).unwrap().world(), 1);
        assert_eq!(Engine::for_launch(None, &settings).unwrap().world(), 1);
    }

    #[test]
    fn one_process_owns_everything_and_gathers_nothing() {
        let engine = Engine::single();
        assert_eq!((engine.rank(), engine.world()), (0, 1));
        assert!(engine.is_writer());
        assert_eq!(engine.share(7), 0..7);
        let rows = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert_eq!(engine.gather_vectors(rows.clone()).unwrap(), rows);
    }

    #[test]
    fn shares_cover_the_items_once_in_rank_order() {
        for (items, world) in [(10, 3), (2, 4), (8, 2), (0, 3)] {
            let parts: Vec<_> = (0..world).map(|r| share(items, r, world)).collect();
            let flat: Vec<usize> = parts.iter().cloned().flatten().collect();
            assert_eq!(flat, (0..items).collect::<Vec<_>>(), "{items} over {world}");
            let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn the_checksum_sees_one_flipped_bit_and_the_order() {
        let a = [1.0f32, 2.0, 3.0];
        let mut b = a;
        b[1] = f32::from_bits(b[1].to_bits() ^ 1);
        assert_ne!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a), checksum(&[2.0, 1.0, 3.0]));
        assert_eq!(checksum(&a), checksum(&a.clone()));
    }
}
