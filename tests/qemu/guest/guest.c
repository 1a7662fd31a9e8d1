/* The bda-qemu test guest: a freestanding multiboot kernel for QEMU x86 (TCG, qboot).
 *
 * At boot it fills every page of its data region (all RAM above its own image) with a known
 * pattern, then dirties pages of a working set at a configured page rate, with optional
 * bursts, keeping in its own memory the version it last wrote to each page. On the serial
 * port (COM1) it answers two one-byte commands:
 *
 *   V  stop dirtying and check every page against the version table; print the verdict
 *   L  as V, after reverting one page to its previous content (a lost page, on purpose):
 *      the check must fail; it shows that the checker can
 *
 * Run on the destination after a migration (with the VM resumed only after V is queued),
 * V checks that every page holds what the source last wrote. Each line it prints starts
 * with "bda-guest: ". Parameters come from the multiboot command line (QEMU's -append):
 *
 *   ws_mib=N      working set: the first N MiB of the data region (default: all of it)
 *   rate=N        pages dirtied per second (default 0: idle)
 *   burst=N       pages per second during a burst (default 0: no bursts)
 *   burst_ms=N    a burst lasts N ms ...
 *   period_ms=N   ... at the start of every period of N ms (default 1000)
 *   seed=N        the page sequence's seed
 *
 * Time comes from the TSC, calibrated against PIT channel 2 by polling, so the guest needs
 * no interrupts at all (under qboot nothing routes the PIT's interrupt for it).
 */

typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned char u8;

#define PAGE 4096u
#define WORDS (PAGE / 4u)
#define MAX_PAGES (1u << 18) /* 1 GiB of data region */
#define COM1 0x3F8

extern char _end[];
static u32 versions[MAX_PAGES];

static inline void outb(unsigned short port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(unsigned short port) {
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline u64 rdtsc(void) {
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* 64-by-32 division without libgcc (the 32-bit build has none): shift and subtract. */
static u64 udivmod64(u64 n, u32 d, u32 *rem) {
    u64 q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (u64)1 << i;
        }
    }
    if (rem) *rem = (u32)r;
    return q;
}

static void putc_serial(char c) {
    while (!(inb(COM1 + 5) & 0x20)) {
    }
    outb(COM1, (u8)c);
}
static void puts_serial(const char *s) {
    while (*s) putc_serial(*s++);
}
static void putu(u64 v) {
    char buf[24];
    int n = 0;
    do {
        u32 digit;
        v = udivmod64(v, 10, &digit);
        buf[n++] = (char)('0' + digit);
    } while (v);
    while (n) putc_serial(buf[--n]);
}
static int serial_byte(void) { return (inb(COM1 + 5) & 0x01) ? inb(COM1) : -1; }

static void serial_init(void) {
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0x07); /* FIFOs on, cleared */
    outb(COM1 + 4, 0x03);
}

/* Reads "key=N" from the command line; returns dflt when absent. */
static u32 param(const char *cmdline, const char *key, u32 dflt) {
    if (!cmdline) return dflt;
    for (const char *p = cmdline; *p; p++) {
        if (p != cmdline && p[-1] != ' ') continue;
        const char *k = key, *q = p;
        while (*k && *q == *k) k++, q++;
        if (*k || *q != '=') continue;
        u32 v = 0;
        for (q++; *q >= '0' && *q <= '9'; q++) v = v * 10 + (u32)(*q - '0');
        return v;
    }
    return dflt;
}

static u32 *data;   /* the data region: npages pages */
static u32 npages;

static inline u32 fill_word(u32 page, u32 i) { return page * 2654435761u + i * 40503u + 0x5bd1e995u; }

/* A page holds its version in its first word, the version's complement in its last, and a
 * fixed pattern of its own in between. */
static void write_page(u32 page, u32 version) {
    u32 *w = data + (u64)page * WORDS;
    w[0] = version;
    w[WORDS - 1] = ~version;
}

static void fill_all(void) {
    for (u32 p = 0; p < npages; p++) {
        u32 *w = data + (u64)p * WORDS;
        for (u32 i = 1; i < WORDS - 1; i++) w[i] = fill_word(p, i);
        write_page(p, 0);
        versions[p] = 0;
    }
}

/* Checks every page; prints the first few bad ones and the verdict. */
static void verify(u64 dirtied) {
    u32 bad = 0;
    for (u32 p = 0; p < npages; p++) {
        const u32 *w = data + (u64)p * WORDS;
        int ok = w[0] == versions[p] && w[WORDS - 1] == ~versions[p];
        for (u32 i = 1; ok && i < WORDS - 1; i++) ok = w[i] == fill_word(p, i);
        if (!ok) {
            if (bad < 5) {
                puts_serial("bda-guest: LOST page ");
                putu(p);
                puts_serial(": holds version ");
                putu(w[0]);
                puts_serial(", the source last wrote ");
                putu(versions[p]);
                puts_serial("\n");
            }
            bad++;
        }
    }
    if (bad) {
        puts_serial("bda-guest: FAILED ");
        putu(bad);
        puts_serial(" of ");
        putu(npages);
        puts_serial(" pages lost\n");
    } else {
        puts_serial("bda-guest: verified ");
        putu(npages);
        puts_serial(" pages, none lost (");
        putu(dirtied);
        puts_serial(" page writes since boot)\n");
    }
}

/* TSC ticks per millisecond, measured over 50 ms of PIT channel 2 (1193182 Hz). */
static u32 tsc_per_ms(void) {
    const u32 count = 59659; /* 50 ms */
    outb(0x61, (u8)((inb(0x61) & ~0x02) | 0x01));
    outb(0x43, 0xB0); /* channel 2, lobyte/hibyte, mode 0 */
    outb(0x42, (u8)(count & 0xff));
    outb(0x42, (u8)(count >> 8));
    u64 t0 = rdtsc();
    while (!(inb(0x61) & 0x20)) {
    }
    u64 t1 = rdtsc();
    u32 per_ms = (u32)udivmod64(t1 - t0, 50, 0);
    return per_ms ? per_ms : 1;
}

struct multiboot_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

void guest_main(const struct multiboot_info *mbi) {
    serial_init();
    const char *cmdline = (mbi->flags & 4) ? (const char *)mbi->cmdline : 0;
    u32 ram_top = (mbi->flags & 1) ? (1024u + mbi->mem_upper) * 1024u : 0;
    u32 start = ((u32)_end + PAGE - 1) & ~(PAGE - 1);
    npages = ram_top > start ? (ram_top - start) / PAGE : 0;
    if (npages > MAX_PAGES) npages = MAX_PAGES;
    data = (u32 *)start;

    u32 ws = param(cmdline, "ws_mib", 0) * (1024u * 1024u / PAGE);
    if (ws == 0 || ws > npages) ws = npages;
    u32 rate = param(cmdline, "rate", 0), burst = param(cmdline, "burst", 0);
    u32 burst_ms = param(cmdline, "burst_ms", 0), period_ms = param(cmdline, "period_ms", 1000);
    u32 seed = param(cmdline, "seed", 1) | 1;
    if (period_ms == 0) period_ms = 1000;

    u32 per_ms = tsc_per_ms();
    fill_all();
    puts_serial("bda-guest: ready, ");
    putu(npages);
    puts_serial(" pages, working set ");
    putu(ws);
    puts_serial(" pages, rate ");
    putu(rate);
    puts_serial(" pages/s, burst ");
    putu(burst);
    puts_serial(" pages/s for ");
    putu(burst_ms);
    puts_serial(" ms every ");
    putu(period_ms);
    puts_serial(" ms, tsc ");
    putu(per_ms);
    puts_serial(" kHz\n");
    if (npages == 0) {
        puts_serial("bda-guest: FAILED no memory to test\n");
        return;
    }

    /* Pacing: a page is due every ticks_per_page(rate) TSC ticks; a backlog of more than
     * 10 ms (the vCPU was descheduled or the VM paused) is dropped, not caught up. */
    const u64 per_s = (u64)per_ms * 1000u, max_lag = (u64)per_ms * 10u;
    const u64 t_start = rdtsc();
    u64 next_due = t_start, dirtied = 0;
    u32 x = seed;
    for (;;) {
        int c = serial_byte();
        if (c == 'V' || c == 'L') {
            if (c == 'L') {
                /* Revert the most recently written page, or page 0, to an older content. */
                u32 p = dirtied ? (x % ws) : 0;
                write_page(p, versions[p] - 1);
                puts_serial("bda-guest: reverted page ");
                putu(p);
                puts_serial(" on purpose\n");
            }
            verify(dirtied);
            return;
        }
        u64 now = rdtsc();
        u32 phase;
        udivmod64(udivmod64(now - t_start, per_ms, 0), period_ms, &phase);
        u32 r = (burst && phase < burst_ms) ? burst : rate;
        if (r == 0) {
            next_due = now;
            continue;
        }
        if (now < next_due) continue;
        if (now - next_due > max_lag) next_due = now;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        u32 p = x % ws;
        versions[p]++;
        write_page(p, versions[p]);
        dirtied++;
        next_due += udivmod64(per_s, r, 0);
    }
}
