/* A stand-in bcryptprimitives.dll for wines that lack it (Debian 12's
 * wine 8.0; wine added the DLL later). Rust's standard library on Windows
 * gets its randomness from bcryptprimitives!ProcessPrng, which real
 * Windows 10 and later always have, so the self-test only copies this next
 * to the exe when the wine prefix has no bcryptprimitives.dll. It is never
 * shipped with sack_tcp.dll.
 *
 * ProcessPrng fills the buffer from the system RNG and, as documented,
 * always returns TRUE. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            FatalAppExitA(0, "bcryptprimitives stand-in: BCryptGenRandom failed");
        data += n;
        len -= n;
    }
    return TRUE;
}
