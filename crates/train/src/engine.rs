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

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use negclip_model::Clip;

use crate::config::DistributedSection;
use crate::error::TrainError;

#[cfg(feature = "mpi")]
mod mpi;

/// A handle on the processes of a run; cheap to clone.
#[derive(Clone)]
pub struct Engine(Rc<dyn Processes>);

/// What the processes of a run do together. Two implementations: [`OneProcess`] below, where
/// every collective is the identity, and `mpi::MpiEngine` (`engine/mpi.rs`, `--features mpi`).
trait Processes {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    fn local_rank(&self) -> usize;
    /// See [`Engine::gather_rows`].
    fn gather_rows(
        &self,
        local: Option<Tensor<2>>,
        width: usize,
        device: &Device,
    ) -> Result<Option<Tensor<2>>, TrainError>;
    fn gather_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError>;
    fn reduce_gradients(&self, model: &Clip, grads: &mut GradientsParams)
        -> Result<(), TrainError>;
    fn broadcast_model(&self, model: Clip) -> Result<Clip, TrainError>;
    fn check_replicas(&self, model: &Clip, step: u64) -> Result<(), TrainError>;
    fn communication_time(&self) -> Duration;
    /// Print `message` as this rank's error and end every rank, where other ranks may be
    /// waiting for this one; one process returns and lets the error propagate.
    fn stop_all(&self, message: &str);
}

/// One process: it owns everything and every collective is the identity.
struct OneProcess;

impl Processes for OneProcess {
    fn rank(&self) -> usize {
        0
    }

    fn world(&self) -> usize {
        1
    }

    fn local_rank(&self) -> usize {
        0
    }

    fn gather_rows(
        &self,
        local: Option<Tensor<2>>,
        _: usize,
        _: &Device,
    ) -> Result<Option<Tensor<2>>, TrainError> {
        Ok(local)
    }

    fn gather_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError> {
        Ok(rows)
    }

    fn reduce_gradients(&self, _: &Clip, _: &mut GradientsParams) -> Result<(), TrainError> {
        Ok(())
    }

    fn broadcast_model(&self, model: Clip) -> Result<Clip, TrainError> {
        Ok(model)
    }

    fn check_replicas(&self, _: &Clip, _: u64) -> Result<(), TrainError> {
        Ok(())
    }

    fn communication_time(&self) -> Duration {
        Duration::ZERO
    }

    fn stop_all(&self, _: &str) {}
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

impl Engine {
    /// One process, no MPI.
    pub fn single() -> Engine {
        Engine(Rc::new(OneProcess))
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
        match launch {
            None => Ok(Engine::single()),
            Some(launch) => Engine::launched(launch, settings),
        }
    }

    /// With MPI built in, MPI itself says how many ranks there are (`MPI_COMM_WORLD`).
    #[cfg(feature = "mpi")]
    fn launched(_: Launch, settings: &DistributedSection) -> Result<Engine, TrainError> {
        Ok(Engine(Rc::new(mpi::MpiEngine::start(settings)?)))
    }

    /// Without MPI, only a launch of one rank can run.
    #[cfg(not(feature = "mpi"))]
    fn launched(launch: Launch, _: &DistributedSection) -> Result<Engine, TrainError> {
        let built_without = "this negclip was built without the `mpi` feature: build it with \
                             `--features mpi` (docs/distributed.md)";
        match launch.size {
            Some(1) => Ok(Engine::single()),
            Some(size) => Err(distributed(format!(
                "started as one of {size} ranks ({}), but {built_without}",
                launch.variable
            ))),
            None => Err(distributed(format!(
                "started by an MPI launcher ({} is set), but {built_without}",
                launch.variable
            ))),
        }
    }

    /// This process's rank, 0..world.
    pub fn rank(&self) -> usize {
        self.0.rank()
    }

    /// How many ranks the run has.
    pub fn world(&self) -> usize {
        self.0.world()
    }

    /// The rank among those on this machine: which of its GPUs to take.
    pub fn local_rank(&self) -> usize {
        self.0.local_rank()
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
        self.0.gather_rows(local, width, device)
    }

    /// Every rank's `rows` (vectors of one length), in rank order: how sharded evaluation
    /// puts its embeddings back together.
    pub fn gather_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError> {
        self.0.gather_vectors(rows)
    }

    /// Sum every parameter's gradient over the ranks, except the logit scale's (see the
    /// module documentation).
    pub fn reduce_gradients(
        &self,
        model: &Clip,
        grads: &mut GradientsParams,
    ) -> Result<(), TrainError> {
        self.0.reduce_gradients(model, grads)
    }

    /// Rank 0's weights on every rank.
    pub fn broadcast_model(&self, model: Clip) -> Result<Clip, TrainError> {
        self.0.broadcast_model(model)
    }

    /// Fail, naming the ranks, if any rank's weights differ from rank 0's.
    pub fn check_replicas(&self, model: &Clip, step: u64) -> Result<(), TrainError> {
        self.0.check_replicas(model, step)
    }

    /// Time this process has spent in collectives (waiting for the others included).
    pub fn communication_time(&self) -> Duration {
        self.0.communication_time()
    }

    /// `result`, or, on an error in a run of several ranks, the error printed as this rank's
    /// and every rank ended: the others may be waiting for this one in a collective that will
    /// never complete. One process returns its error as usual.
    pub fn stop_all_on_error<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        if let Err(error) = &result {
            self.0.stop_all(&format!("{error:#}"));
        }
        result
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
fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor")
}

/// Every parameter's values in visiting order, flattened: what the ranks broadcast and
/// compare, and what tests compare between runs.
pub fn parameters(model: &Clip) -> Vec<f32> {
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
}
