/*
 * lpm_client.h: the native client core of the LPM runtime, as a plain C ABI.
 *
 * One library, shared by the Unity and Unreal plugins, that speaks the LPM wire protocol v1
 * (bridge/PROTOCOL.md) over ZeroMQ (DEALER -> the runtime's ROUTER) with msgpack headers.
 *
 * Threading model
 *   - A client owns one background I/O thread, the only thread that touches the socket.
 *   - Every function here may be called from any thread (the game thread, an audio callback)
 *     and never blocks longer than a short, fixed bound (it takes one internal mutex to copy data
 *     in or out; no network round trip happens on the caller's thread).
 *   - Nothing calls back into the caller: frames, events and stats are *polled*.
 *   - No C++ exception crosses this boundary; failures are returned as lpm_status codes.
 *
 * Sessions
 *   lpm_session_create returns a local handle at once; the I/O thread asks the runtime for the
 *   session and an LPM_EVENT_SESSION_READY event follows. Audio, prompts and emotes given before
 *   then are queued (bounded) and sent when it is ready. The handle stays valid across
 *   reconnects: after a lost connection the client reconnects (same routing id), resumes the
 *   session, or re-creates it with the same options when the runtime no longer knows it
 *   (LPM_EVENT_SESSION_RESUMED says which, in `value`: 0 resumed, 1 re-created).
 *
 * Frames
 *   The I/O thread keeps, per session, the most recent frames keyed by pts (for a repeated pts
 *   the highest index wins, PROTOCOL.md section 4). lpm_session_poll_frame returns the frame at a
 *   playhead: the newest frame with pts_us <= playhead_us. Pass the NPC audio playback position
 *   on the session timeline as the playhead, or LPM_PLAYHEAD_AUTO to use the client's own
 *   estimate (timeline_now - latency).
 *
 * Strings are UTF-8, NUL-terminated. Struct layouts are fixed (natural alignment, no packing
 * pragmas) and every struct starts with `struct_size`, which callers set to sizeof(struct) and
 * the library checks; lpm_abi_struct_size lets a binding verify its own layout.
 */
#ifndef LPM_CLIENT_H
#define LPM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(LPM_CLIENT_BUILD)
#    define LPM_API __declspec(dllexport)
#  else
#    define LPM_API __declspec(dllimport)
#  endif
#else
#  define LPM_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define LPM_ABI_VERSION 1
#define LPM_NUM_CURVES 61
#define LPM_PLAYHEAD_AUTO INT64_MIN
#define LPM_EVENT_TEXT_BYTES 256
#define LPM_NAME_BYTES 64

typedef struct lpm_client lpm_client; /* opaque */
typedef uint32_t lpm_session;         /* local handle, 0 is never valid */

/* Return codes. Negative = failure of the call; positive = "nothing to report". */
typedef enum lpm_status {
    LPM_OK = 0,
    LPM_NO_DATA = 1,                 /* poll: no new frame / no event */
    LPM_ERR_INVALID_ARGUMENT = -1,   /* NULL pointer, bad struct_size, bad value */
    LPM_ERR_UNKNOWN_SESSION = -2,    /* no such local handle (closed or never created) */
    LPM_ERR_NOT_READY = -3,          /* session not (yet) known to the runtime */
    LPM_ERR_QUEUE_FULL = -4,         /* bounded outgoing queue is full; the data was dropped */
    LPM_ERR_BUFFER_TOO_SMALL = -5,   /* caller's pixel buffer smaller than width*height*4 */
    LPM_ERR_NOT_CONNECTED = -6,
    LPM_ERR_LIMIT = -7,              /* too many sessions on this client, text too long, ... */
    LPM_ERR_INTERNAL = -100
} lpm_status;

typedef enum lpm_state {
    LPM_STATE_IDLE = 0,
    LPM_STATE_SPEAK = 1,
    LPM_STATE_LISTEN = 2,
    LPM_STATE_BOTH = 3
} lpm_state;

typedef enum lpm_encoding {
    LPM_ENCODING_RGBA8 = 0,
    LPM_ENCODING_JPEG = 1 /* decoded to RGBA by the library before it is handed out */
} lpm_encoding;

typedef enum lpm_event_type {
    LPM_EVENT_CONNECTED = 1,         /* the runtime answered (first pong after (re)connecting) */
    LPM_EVENT_DISCONNECTED = 2,      /* no answer for the keep-alive timeout */
    LPM_EVENT_SESSION_READY = 3,     /* session_info arrived; lpm_session_get_info works */
    LPM_EVENT_SESSION_RESUMED = 4,   /* after a reconnect; value 0 resumed, 1 re-created */
    LPM_EVENT_SESSION_CLOSED = 5,    /* text = reason (closed, timeout, shutdown) */
    LPM_EVENT_STATE_CHANGED = 6,     /* state, pts_us */
    LPM_EVENT_SPEAK_SCHEDULED = 7,   /* pts_us, value = duration_us */
    LPM_EVENT_LATE = 8,              /* value = cumulative late chunks */
    LPM_EVENT_ERROR = 9,             /* code = protocol error code (PROTOCOL.md §8), name, text */
    LPM_EVENT_CHARACTERS = 10,       /* the character list changed: lpm_client_get_characters */
    LPM_EVENT_CHARACTER_PREPARED = 11, /* name = character id */
    LPM_EVENT_SHUTDOWN = 12          /* the runtime is stopping; the client keeps retrying */
} lpm_event_type;

typedef struct lpm_client_config {
    uint32_t struct_size;
    const char* endpoint;          /* "tcp://127.0.0.1:7701"; required */
    const char* server_public_key; /* Z85, 40 chars; NULL = CurveZMQ off */
    const char* client_public_key; /* Z85; required when server_public_key is set */
    const char* client_secret_key; /* Z85; required when server_public_key is set */
    uint32_t keepalive_ms;         /* ping interval; 0 = 1000 */
    uint32_t timeout_ms;           /* no reply this long = disconnected; 0 = 3000 */
    uint32_t audio_queue_ms;       /* bound on queued audio per session and stream; 0 = 2000 */
    uint32_t frame_buffer;         /* frames kept per session for the playhead; 0 = 64 */
} lpm_client_config;

typedef struct lpm_session_options {
    uint32_t struct_size;
    const char* character; /* NULL or "" = the runtime's default */
    const char* prompt;    /* NULL = none */
    uint32_t width;        /* 0 = runtime default */
    uint32_t height;       /* 0 = runtime default */
    uint32_t encoding;     /* lpm_encoding */
    uint32_t jpeg_quality; /* 0 = 85 */
    uint32_t seed;
} lpm_session_options;

typedef struct lpm_session_info {
    uint32_t struct_size;
    uint32_t width;
    uint32_t height;
    uint32_t encoding;
    float fps;
    uint32_t sample_rate;      /* the runtime's internal rate (16000) */
    int64_t latency_us;        /* L: play NPC audio this much after sending it */
    char session_id[LPM_NAME_BYTES]; /* the runtime's id, e.g. "s1-3f2a9c01" */
    char character[LPM_NAME_BYTES];
} lpm_session_info;

typedef struct lpm_frame_info {
    uint32_t struct_size;
    uint32_t width;
    uint32_t height;
    int32_t state;             /* lpm_state */
    int64_t index;             /* never repeats; may skip */
    int64_t pts_us;            /* on the session timeline */
    float curves[LPM_NUM_CURVES]; /* PROTOCOL.md §6 order; blendshapes 0..1, angles radians */
} lpm_frame_info;

typedef struct lpm_event {
    uint32_t struct_size;
    int32_t type;              /* lpm_event_type */
    lpm_session session;       /* 0 for client-wide events */
    int32_t code;              /* LPM_EVENT_ERROR: protocol error code */
    int32_t state;             /* LPM_EVENT_STATE_CHANGED */
    int64_t pts_us;
    int64_t value;
    char name[LPM_NAME_BYTES];       /* error name, character id */
    char text[LPM_EVENT_TEXT_BYTES]; /* human-readable, truncated */
} lpm_event;

typedef struct lpm_stats {
    uint32_t struct_size;
    int32_t connected;         /* 1 or 0 */
    uint32_t reconnects;
    float fps;                 /* frames received per second, last 2 s */
    float rtt_ms;              /* last ping round trip */
    float latency_ms;          /* session latency L in ms */
    uint64_t frames_received;
    uint64_t frames_dropped;   /* index gaps + frames overwritten unpolled */
    uint64_t audio_dropped_ms; /* audio dropped by the bounded queue or while disconnected */
    uint64_t events_dropped;   /* event queue overflow */
} lpm_stats;

/* ABI checks: returns LPM_ABI_VERSION; sizes of the library's own structs by name. */
LPM_API int32_t lpm_abi_version(void);
LPM_API uint32_t lpm_abi_struct_size(const char* struct_name); /* 0 if unknown */
LPM_API const char* lpm_status_name(int32_t status);            /* static string */
LPM_API const char* lpm_curve_name(int32_t index);               /* static string or NULL */

/* Client. create starts the I/O thread and connects (ZeroMQ connects lazily and retries). */
LPM_API int32_t lpm_client_create(const lpm_client_config* config, lpm_client** out_client);
LPM_API void lpm_client_destroy(lpm_client* client); /* closes sessions, joins the thread; NULL ok */
LPM_API int32_t lpm_client_poll_event(lpm_client* client, lpm_event* out_event);
LPM_API int32_t lpm_client_get_stats(lpm_client* client, lpm_session session, lpm_stats* out);
/* Newline-separated character ids; `needed` gets the size including the NUL. */
LPM_API int32_t lpm_client_get_characters(lpm_client* client, char* buffer, size_t capacity,
                                          size_t* needed);
LPM_API int32_t lpm_client_prepare_character(lpm_client* client, const char* name,
                                             const uint8_t* image, size_t image_bytes);

/* Sessions. */
LPM_API int32_t lpm_session_create(lpm_client* client, const lpm_session_options* options,
                                   lpm_session* out_session);
LPM_API int32_t lpm_session_close(lpm_client* client, lpm_session session);
LPM_API int32_t lpm_session_get_info(lpm_client* client, lpm_session session,
                                     lpm_session_info* out_info);
/* Timeline estimate (PROTOCOL.md §4): now_us of session_info + local time since. */
LPM_API int32_t lpm_session_timeline_now(lpm_client* client, lpm_session session,
                                         int64_t* out_us);

/* Audio: interleaved float32, any rate the protocol supports, any channel count (mixed down to
 * mono here). `frames` = samples per channel. Copied; split into protocol-sized packets. */
LPM_API int32_t lpm_session_push_speak(lpm_client* client, lpm_session session,
                                       const float* samples, uint32_t frames, uint32_t channels,
                                       uint32_t sample_rate);
LPM_API int32_t lpm_session_push_listen(lpm_client* client, lpm_session session,
                                        const float* samples, uint32_t frames, uint32_t channels,
                                        uint32_t sample_rate);
LPM_API int32_t lpm_session_end_of_speech(lpm_client* client, lpm_session session);
LPM_API int32_t lpm_session_set_prompt(lpm_client* client, lpm_session session,
                                       const char* prompt); /* NULL or "" clears */
LPM_API int32_t lpm_session_trigger_emote(lpm_client* client, lpm_session session,
                                          const char* emote, float intensity, float duration_s);
LPM_API int32_t lpm_session_interrupt(lpm_client* client, lpm_session session);

/* Frames. poll copies RGBA (width*height*4 bytes, straight alpha) into `rgba` (may be NULL to
 * read only the info and curves). Returns LPM_NO_DATA when the frame at the playhead is the one
 * already returned by the previous poll or borrow. borrow hands out a pointer to the library's
 * copy, valid until the next poll/borrow on that session or its close. */
LPM_API int32_t lpm_session_poll_frame(lpm_client* client, lpm_session session,
                                       int64_t playhead_us, lpm_frame_info* out_info,
                                       uint8_t* rgba, size_t rgba_capacity);
LPM_API int32_t lpm_session_borrow_frame(lpm_client* client, lpm_session session,
                                         int64_t playhead_us, lpm_frame_info* out_info,
                                         const uint8_t** out_rgba);

#ifdef __cplusplus
}
#endif

#endif /* LPM_CLIENT_H */
