//! An allocation-heavy multi-threaded workload for `cargo xtask bench`: THREADS threads each
//! replace random slots of a live set with new Vec, Box and String allocations of varied sizes,
//! so that allocations and frees interleave across size classes. Prints the allocator, the wall
//! time in milliseconds and a checksum (which keeps the work from being optimised away).

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::{hint::black_box, thread, time::Instant};

const THREADS: u64 = 4;
const ITERATIONS: u64 = 4_000_000;
const SLOTS: usize = 4096;

enum Slot {
    Empty,
    Bytes(Vec<u8>),
    Boxed(Box<[u64; 16]>),
    Text(String),
}

fn work(seed: u64) -> u64 {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64: deterministic and allocation-free.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut slots: Vec<Slot> = (0..SLOTS).map(|_| Slot::Empty).collect();
    let mut checksum = 0u64;
    for _ in 0..ITERATIONS {
        let random = next();
        let index = (random % SLOTS as u64) as usize;
        slots[index] = match (random >> 16) % 4 {
            0 | 1 => {
                // 8 bytes to 16 KiB, small sizes more often than large ones.
                let size = 8usize << ((random >> 24) % 12);
                let size = size + (random >> 40) as usize % size;
                let mut bytes = vec![0u8; size];
                bytes[size - 1] = random as u8;
                Slot::Bytes(bytes)
            }
            2 => Slot::Boxed(Box::new([random; 16])),
            _ => {
                let mut text = String::new();
                for _ in 0..(random >> 32) % 24 {
                    text.push_str("allocation ");
                }
                Slot::Text(text)
            }
        };
        checksum = checksum.wrapping_add(match &slots[index] {
            Slot::Empty => 0,
            Slot::Bytes(bytes) => bytes.len() as u64,
            Slot::Boxed(boxed) => boxed[15] & 0xff,
            Slot::Text(text) => text.len() as u64,
        });
    }
    black_box(&slots);
    checksum
}

fn main() {
    let allocator = if cfg!(feature = "jemalloc") {
        "jemalloc"
    } else {
        "musl"
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| thread::spawn(move || work(0x9e37_79b9_7f4a_7c15 ^ (thread + 1))))
        .collect();
    let checksum = workers
        .into_iter()
        .map(|worker| worker.join().expect("a worker panicked"))
        .fold(0u64, u64::wrapping_add);
    let elapsed = started.elapsed();
    println!(
        "allocator {allocator} threads {THREADS} elapsed_ms {} checksum {checksum}",
        elapsed.as_millis()
    );
}
