//! The MPI side of [`super::Engine`]: rsmpi over the system's MPI library (Open MPI, MPICH).
//!
//! Only the main thread calls MPI (`Threading::Funneled`). Data crosses through host memory.
//! Every collective is non-blocking, polled until it completes or `distributed.timeout_s`
//! passes; beside it, each rank tells rank 0 (and rank 0 tells each rank) that it has arrived,
//! so that a rank that never arrives is named.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant};

// `::mpi` is the rsmpi crate; this module is `engine::mpi`.
use ::mpi::collective::SystemOperation;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::Universe;
use ::mpi::request::{multiple_scope, scope, Request, Scope};
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use ::mpi::{Count, Tag, Threading};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use negclip_model::Clip;

use super::{distributed, host, parameters, Processes};
use crate::config::DistributedSection;
use crate::error::TrainError;

/// Tag of the arrival messages ([`MpiEngine::announce`]), apart from anything else on the
/// communicator.
const ARRIVED: Tag = 0x6e63_0001;

pub(super) struct MpiEngine {
    world: SimpleCommunicator,
    pub rank: usize,
    pub size: usize,
    pub local_rank: usize,
    timeout: Duration,
    /// Floats per all-reduce message.
    bucket: usize,
    /// Time spent in collectives.
    pub spent: Cell<Duration>,
    /// Declared last, dropped last: finalises MPI once everything else is gone.
    _universe: Universe,
}

impl MpiEngine {
    pub fn start(settings: &DistributedSection) -> Result<MpiEngine, TrainError> {
        let (universe, _) = ::mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| distributed("MPI is already initialised in this process".into()))?;
        let world = universe.world();
        // The ranks that share this machine's memory, in world order: the local rank picks
        // the GPU.
        let local_rank = world.split_shared(world.rank()).rank() as usize;
        Ok(MpiEngine {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank,
            timeout: Duration::from_secs(settings.timeout_s.get()),
            bucket: (settings.bucket_mb.get() << 20) / std::mem::size_of::<f32>(),
            spent: Cell::new(Duration::ZERO),
            world,
            _universe: universe,
        })
    }

    /// Every rank's `values` gathered in rank order, returned as the parts before and after
    /// this rank's own.
    fn gather_around(&self, values: &[f32]) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        self.timed(|| {
            let Gathered {
                mut values,
                counts,
                offsets,
            } = self.gather_varcount(values, "the gathering of embeddings")?;
            let after = values.split_off(offsets[self.rank] + counts[self.rank]);
            values.truncate(offsets[self.rank]);
            Ok((values, after))
        })
    }

    /// Every rank's rows in rank order (each rank's rows of one length).
    fn gather_rows_of_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError> {
        self.timed(|| {
            let what = "the gathering of evaluation embeddings";
            let row_counts = self.all_gather(&(rows.len() as Count), what);
            let Gathered {
                values: all,
                counts,
                offsets,
            } = self.gather_varcount(&rows.concat(), what)?;
            let mut out = Vec::with_capacity(row_counts.iter().sum::<Count>() as usize);
            for rank in 0..self.size {
                let block = &all[offsets[rank]..offsets[rank] + counts[rank]];
                if row_counts[rank] > 0 {
                    let width = block.len() / row_counts[rank] as usize;
                    out.extend(block.chunks(width).map(<[f32]>::to_vec));
                }
            }
            Ok(out)
        })
    }

    /// All ranks' `values` concatenated.
    fn gather_varcount(&self, values: &[f32], what: &str) -> Result<Gathered, TrainError> {
        let count = Count::try_from(values.len())
            .map_err(|_| distributed(format!("{} values exceed one MPI message", values.len())))?;
        let counts = self.all_gather(&count, what);
        let offsets: Vec<Count> = counts
            .iter()
            .scan(0, |next, &c| {
                let at = *next;
                *next += c;
                Some(at)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut all = vec![0f32; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &offsets[..]);
            scope(|scope| {
                self.announce();
                let request =
                    self.world
                        .immediate_all_gather_varcount_into(scope, values, &mut partition);
                self.wait(what, request);
            });
        }
        let to_usize = |v: Vec<Count>| v.into_iter().map(|c| c as usize).collect();
        Ok(Gathered {
            values: all,
            counts: to_usize(counts),
            offsets: to_usize(offsets),
        })
    }

    /// The element-wise sum over the ranks of `values`, as all-reduces of buckets of
    /// `distributed.bucket_mb`, all in flight at once.
    fn sum(&self, values: Vec<f32>) -> Vec<f32> {
        self.timed(|| {
            let mut summed = vec![0f32; values.len()];
            let bucket = self.bucket.max(1);
            let buckets = values.len().div_ceil(bucket);
            multiple_scope(buckets, |scope, requests| {
                self.announce();
                for (send, receive) in values.chunks(bucket).zip(summed.chunks_mut(bucket)) {
                    requests.add(self.world.immediate_all_reduce_into(
                        scope,
                        send,
                        receive,
                        SystemOperation::sum(),
                    ));
                }
                let mut done = Vec::with_capacity(buckets);
                self.finish("the gradient sum", || {
                    requests.test_some(&mut done);
                    requests.incomplete() == 0
                });
            });
            summed
        })
    }

    /// Rank 0's `values` on every rank; every rank must hold as many.
    fn broadcast(&self, mut values: Vec<f32>) -> Result<Vec<f32>, TrainError> {
        self.timed(|| {
            let what = "the broadcast of rank 0's weights";
            let lengths = self.all_gather(&(values.len() as u64), what);
            if let Some(rank) = lengths.iter().position(|&n| n != lengths[0]) {
                return Err(distributed(format!(
                    "rank {rank}'s model has {} parameters and rank 0's {}: every rank must \
                     start from the same model",
                    lengths[rank], lengths[0]
                )));
            }
            scope(|scope| {
                self.announce();
                let request = self
                    .world
                    .process_at_rank(0)
                    .immediate_broadcast_into(scope, &mut values[..]);
                self.wait(what, request);
            });
            Ok(values)
        })
    }

    /// Fail, naming them, if any rank's weight checksum differs from rank 0's.
    fn compare_checksums(&self, checksum: u64, step: u64) -> Result<(), TrainError> {
        self.timed(|| {
            let all = self.all_gather(&checksum, "the comparison of weights");
            let differ: Vec<String> = (1..self.size)
                .filter(|&rank| all[rank] != all[0])
                .map(|rank| rank.to_string())
                .collect();
            if differ.is_empty() {
                return Ok(());
            }
            Err(distributed(format!(
                "at step {step} the weights of rank {} differ from rank 0's: the ranks no longer \
                 take the same steps",
                differ.join(", rank ")
            )))
        })
    }

    /// Every rank's `mine`, in rank order.
    fn all_gather<T: Equivalence + Default + Clone>(&self, mine: &T, what: &str) -> Vec<T> {
        let mut all = vec![T::default(); self.size];
        scope(|scope| {
            self.announce();
            let request = self
                .world
                .immediate_all_gather_into(scope, mine, &mut all[..]);
            self.wait(what, request);
        });
        all
    }

    /// Tell the others this rank has reached the next collective: every rank tells rank 0,
    /// rank 0 tells every rank. A rank stuck before a collective is then known by name to
    /// those waiting in it.
    fn announce(&self) {
        if self.rank == 0 {
            for rank in 1..self.size {
                self.world
                    .process_at_rank(rank as i32)
                    .send_with_tag(&1u8, ARRIVED);
            }
        } else {
            self.world.process_at_rank(0).send_with_tag(&1u8, ARRIVED);
        }
    }

    /// [`MpiEngine::finish`] for one request.
    fn wait<'a, D: ?Sized, S: Scope<'a>>(&self, what: &str, request: Request<'a, D, S>) {
        let mut pending = Some(request);
        self.finish(what, || match pending.take().map(Request::test) {
            Some(Err(request)) => {
                pending = Some(request);
                false
            }
            _ => true,
        });
    }

    /// Poll `done` until the collective called `what` completes, listening meanwhile for the
    /// others' arrivals ([`MpiEngine::announce`]); then take the arrivals still in flight.
    /// Past the timeout, name whoever did not arrive and end the whole run: the collective
    /// cannot be abandoned (MPI still owns its buffers), and the others are stuck in it too.
    /// Ranks > 0 give rank 0 a quarter of the timeout more, so that it is rank 0 that names
    /// the late rank.
    fn finish(&self, what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        let limit = match self.rank {
            0 => self.timeout,
            _ => self.timeout + self.timeout / 4,
        };
        // Whom this rank hears from: rank 0 hears every rank, the others rank 0.
        let mut waiting: Vec<usize> = match self.rank {
            0 => (1..self.size).collect(),
            _ => vec![0],
        };
        let mut pause = Duration::from_micros(20);
        while !done() {
            waiting.retain(|&rank| !self.heard(rank, false));
            if started.elapsed() > limit {
                self.stall(what, &waiting);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
        for rank in waiting {
            self.heard(rank, true);
        }
    }

    /// Take `rank`'s arrival message if it is here (or, `block`, once it is).
    fn heard(&self, rank: usize, block: bool) -> bool {
        let peer = self.world.process_at_rank(rank as i32);
        if !block && peer.immediate_probe_with_tag(ARRIVED).is_none() {
            return false;
        }
        peer.receive_with_tag::<u8>(ARRIVED);
        true
    }

    /// Report a collective that timed out, naming the ranks that never arrived, and end the
    /// run on every rank.
    fn stall(&self, what: &str, missing: &[usize]) -> ! {
        let seconds = self.timeout.as_secs();
        let message = match (self.rank, missing) {
            (0, []) => format!(
                "every rank reached {what}, but it did not complete within {seconds} s (a rank \
                 stopped inside it, or the network failed)"
            ),
            (0, late) => {
                let late: Vec<String> = late.iter().map(usize::to_string).collect();
                format!(
                    "rank {} did not reach {what} within {seconds} s (it hangs or died)",
                    late.join(", rank ")
                )
            }
            (_, []) => format!(
                "{what} did not complete within {seconds} s; rank 0 names the rank at fault"
            ),
            (_, _) => format!("rank 0 did not reach {what} within {seconds} s (it hangs or died)"),
        };
        self.fail(&format!("distributed run: {message}"))
    }

    /// Print `message` as this rank's error, in one write so that the ranks' lines do not
    /// interleave, and end every rank.
    fn fail(&self, message: &str) -> ! {
        let line = format!(
            "negclip: rank {}: error: {message}; stopping every rank\n",
            self.rank
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        self.world.abort(1)
    }

    fn timed<T>(&self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = work();
        self.spent.set(self.spent.get() + started.elapsed());
        out
    }
}

impl Processes for MpiEngine {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.size
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn gather_rows(
        &self,
        local: Option<Tensor<2>>,
        width: usize,
        device: &Device,
    ) -> Result<Option<Tensor<2>>, TrainError> {
        let values = local.as_ref().map(|t| host(t.clone())).unwrap_or_default();
        let (before, after) = self.gather_around(&values)?;
        let constant = |values: Vec<f32>| {
            let rows = values.len() / width;
            (rows > 0)
                .then(|| Tensor::<2>::from_data(TensorData::new(values, [rows, width]), device))
        };
        let parts: Vec<Tensor<2>> = [constant(before), local, constant(after)]
            .into_iter()
            .flatten()
            .collect();
        Ok((!parts.is_empty()).then(|| Tensor::cat(parts, 0)))
    }

    fn gather_vectors(&self, rows: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, TrainError> {
        self.gather_rows_of_vectors(rows)
    }

    fn reduce_gradients(
        &self,
        model: &Clip,
        grads: &mut GradientsParams,
    ) -> Result<(), TrainError> {
        let skip = model.logit_scale.id;
        let mut flat = FlatGradients {
            grads,
            skip,
            values: Vec::new(),
        };
        model.visit(&mut flat);
        let summed = self.sum(flat.values);
        let mut back = UnflattenGradients {
            grads,
            skip,
            values: &summed,
            at: 0,
        };
        model.visit(&mut back);
        Ok(())
    }

    fn broadcast_model(&self, model: Clip) -> Result<Clip, TrainError> {
        let values = self.broadcast(parameters(&model))?;
        Ok(model.map(&mut SetParameters {
            values: &values,
            at: 0,
        }))
    }

    fn check_replicas(&self, model: &Clip, step: u64) -> Result<(), TrainError> {
        self.compare_checksums(checksum(&parameters(model)), step)
    }

    fn communication_time(&self) -> Duration {
        self.spent.get()
    }

    fn stop_all(&self, message: &str) {
        if self.size > 1 {
            self.fail(message)
        }
    }
}

/// Every rank's values end to end, with each rank's count and offset in them.
struct Gathered {
    values: Vec<f32>,
    counts: Vec<usize>,
    offsets: Vec<usize>,
}

/// A cheap order-sensitive checksum of the weights' bits (FNV-1a over 32-bit words).
fn checksum(values: &[f32]) -> u64 {
    values.iter().fold(0xcbf2_9ce4_8422_2325, |hash, value| {
        (hash ^ u64::from(value.to_bits())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Parameters set from a flat buffer in visiting order (what [`parameters`] wrote).
struct SetParameters<'a> {
    values: &'a [f32],
    at: usize,
}

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
struct FlatGradients<'a> {
    grads: &'a GradientsParams,
    skip: ParamId,
    values: Vec<f32>,
}

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
struct UnflattenGradients<'a> {
    grads: &'a mut GradientsParams,
    skip: ParamId,
    values: &'a [f32],
    at: usize,
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
