"""Rogue driver: takes all the memory it can (kmalloc until it fails, never freed) in every
ioctl and in ``release``, which a process that dies with the device open runs after its own
pages went back (Linux's ``do_exit`` frees the address space, then closes the files): the next
process the system starts finds no memory."""
from nookslab.kernel.api import kmalloc, register_chrdev
from nookslab.kernel.chrdev import FileOperations
from nookslab.kernel.errno import EBUSY

MAJOR = 241


def hog():
    taken = 0
    while kmalloc(128 * 1024, 0):             # the bug: takes everything, frees nothing
        taken += 1
    while kmalloc(2048, 0):                   # and every page left between the big blocks
        taken += 1
    return taken


def hog_ioctl(inode, file, cmd, arg):
    return hog()


def hog_release(inode, file):
    hog()
    return 0


def init_module():
    if register_chrdev(MAJOR, "rogue0", FileOperations(ioctl=hog_ioctl, release=hog_release)):
        return -EBUSY
    return 0
