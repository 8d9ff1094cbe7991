# Copyright (c) mmbrain contributors. All rights reserved.
